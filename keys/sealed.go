package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/authd-dev/authd/token"
)

// KeyEncryptionKey seals signing keys kept in a shared database: AES-256-GCM
// with a key derived (HKDF-SHA256) from an operator's secret, each sealed
// key bound to its kid, so a row cannot be decrypted as another key.
type KeyEncryptionKey struct {
	aead    cipher.AEAD
	secrets cipher.AEAD // a key of its own for other secrets (SealSecret)
}

// MinKeyEncryptionSecret is the shortest secret NewKeyEncryptionKey takes.
const MinKeyEncryptionSecret = 32

// NewKeyEncryptionKey derives the key from secret (at least 32 bytes, e.g.
// `openssl rand -base64 48`).
func NewKeyEncryptionKey(secret []byte) (*KeyEncryptionKey, error) {
	if len(secret) < MinKeyEncryptionSecret {
		return nil, fmt.Errorf("key-encryption secret is %d bytes, want at least %d", len(secret), MinKeyEncryptionSecret)
	}
	aead, err := derive(secret, "authd signing keys v1")
	if err != nil {
		return nil, err
	}
	secrets, err := derive(secret, "authd secrets v1")
	if err != nil {
		return nil, err
	}
	return &KeyEncryptionKey{aead: aead, secrets: secrets}, nil
}

// derive is AES-256-GCM under the key HKDF-SHA256 derives from secret for
// purpose.
func derive(secret []byte, purpose string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealSecret encrypts a secret other than a signing key (a user's TOTP
// secret), bound to aad so that it opens only as what it was sealed as:
// nonce || ciphertext, under a key derived for secrets alone.
func (k *KeyEncryptionKey) SealSecret(aad string, secret []byte) ([]byte, error) {
	nonce := make([]byte, k.secrets.NonceSize())
	_, _ = rand.Read(nonce)
	return k.secrets.Seal(nonce, nonce, secret, []byte(aad)), nil
}

// ErrSealedSecret: a sealed secret does not open (wrong key-encryption
// secret, or the row was tampered with or moved).
var ErrSealedSecret = errors.New("sealed secret does not open: wrong key-encryption secret, or tampered")

// OpenSecret decrypts what SealSecret sealed under aad.
func (k *KeyEncryptionKey) OpenSecret(aad string, sealed []byte) ([]byte, error) {
	n := k.secrets.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealedSecret
	}
	secret, err := k.secrets.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, ErrSealedSecret
	}
	return secret, nil
}

// Seal encrypts key's private half: nonce || ciphertext of its PKCS#8 DER.
func (k *KeyEncryptionKey) Seal(key Key) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key.Private)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, der, []byte(key.ID)), nil
}

// ErrSealedKey: a sealed key does not open with this key-encryption key
// (wrong secret, or the row was tampered with or swapped).
var ErrSealedKey = errors.New("sealed signing key does not open: wrong key-encryption secret, or tampered")

// Open decrypts a sealed key stored under kid and checks that it is that
// key.
func (k *KeyEncryptionKey) Open(kid string, sealed []byte) (ed25519.PrivateKey, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealedKey
	}
	der, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, ErrSealedKey
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	priv, ok := parsed.(ed25519.PrivateKey)
	if err != nil || !ok || token.Thumbprint(priv.Public().(ed25519.PublicKey)) != kid {
		return nil, ErrSealedKey
	}
	return priv, nil
}
