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
	aead cipher.AEAD
}

// MinKeyEncryptionSecret is the shortest secret NewKeyEncryptionKey takes.
const MinKeyEncryptionSecret = 32

// NewKeyEncryptionKey derives the key from secret (at least 32 bytes, e.g.
// `openssl rand -base64 48`).
func NewKeyEncryptionKey(secret []byte) (*KeyEncryptionKey, error) {
	if len(secret) < MinKeyEncryptionSecret {
		return nil, fmt.Errorf("key-encryption secret is %d bytes, want at least %d", len(secret), MinKeyEncryptionSecret)
	}
	k, err := hkdf.Key(sha256.New, secret, nil, "authd signing keys v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &KeyEncryptionKey{aead: aead}, nil
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
