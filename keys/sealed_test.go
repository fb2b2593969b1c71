package keys_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/keys"
)

func TestKeyEncryptionKey(t *testing.T) {
	kek, err := keys.NewKeyEncryptionKey([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keys.NewKey(time.Now())
	other, _ := keys.NewKey(time.Now())
	sealed, err := kek.Seal(key)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key.Private)
	if bytes.Contains(sealed, der) || bytes.Contains(sealed, key.Private.Seed()) {
		t.Fatal("the sealed key holds the private key in clear")
	}
	priv, err := kek.Open(key.ID, sealed)
	if err != nil || !priv.Equal(key.Private) {
		t.Fatalf("Open = %v, %v", priv, err)
	}
	wrong, _ := keys.NewKeyEncryptionKey([]byte(strings.Repeat("x", 32)))
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() error{
		"wrong secret": func() error { _, err := wrong.Open(key.ID, sealed); return err },
		"another kid":  func() error { _, err := kek.Open(other.ID, sealed); return err },
		"tampered":     func() error { _, err := kek.Open(key.ID, tampered); return err },
		"truncated":    func() error { _, err := kek.Open(key.ID, sealed[:5]); return err },
	} {
		if err := open(); !errors.Is(err, keys.ErrSealedKey) {
			t.Errorf("%s: %v, want ErrSealedKey", name, err)
		}
	}
	if _, err := keys.NewKeyEncryptionKey([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

// Secrets other than signing keys open only with the same secret and as
// what they were sealed as.
func TestKeyEncryptionKey_Secrets(t *testing.T) {
	k, err := keys.NewKeyEncryptionKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := keys.NewKeyEncryptionKey([]byte("fedcba9876543210fedcba9876543210"))
	sealed, err := k.SealSecret("totp:1", []byte("JBSWY3DPEHPK3PXP"))
	if err != nil || bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatalf("SealSecret = %x, %v", sealed, err)
	}
	if got, err := k.OpenSecret("totp:1", sealed); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"another aad":    func() ([]byte, error) { return k.OpenSecret("totp:2", sealed) },
		"another secret": func() ([]byte, error) { return other.OpenSecret("totp:1", sealed) },
		"truncated":      func() ([]byte, error) { return k.OpenSecret("totp:1", sealed[:5]) },
	} {
		if _, err := open(); !errors.Is(err, keys.ErrSealedSecret) {
			t.Errorf("%s: %v, want ErrSealedSecret", name, err)
		}
	}
}
