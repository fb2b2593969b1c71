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
