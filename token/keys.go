package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The signing algorithms authd uses.
const (
	EdDSA = "EdDSA"
	HS256 = "HS256"
)

// MinHMACSecret is the shortest HS256 secret authd accepts (RFC 7518 section 3.2).
const MinHMACSecret = 32

// KeySource resolves the key that verifies a token. Exactly one algorithm is
// allowed per source, so a token can never pick its own.
type KeySource interface {
	Algorithm() string
	// VerificationKey returns the key for kid ("" when the token has none),
	// or an error wrapping ErrUnknownKey.
	VerificationKey(ctx context.Context, kid string) (any, error)
}

// SigningKey is the key that signs new tokens.
type SigningKey interface {
	Algorithm() string
	// SigningKey returns the current key and its kid ("" for none).
	SigningKey() (kid string, key any)
}

// Key is one Ed25519 key of a Keyring.
type Key struct {
	ID      string
	Created time.Time
	Public  ed25519.PublicKey
	// Private is nil for a key known only by its public half.
	Private ed25519.PrivateKey
}

// NewKey generates an Ed25519 key created at now.
func NewKey(now time.Time) (Key, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return Key{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return Key{ID: Thumbprint(pub), Created: now.UTC(), Public: pub, Private: priv}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, used as kid.
func Thumbprint(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 section 3.2).
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Keyring holds Ed25519 keys: the newest one with a private half signs, all
// of them verify. It is safe for concurrent use.
type Keyring struct {
	mu         sync.RWMutex
	current    Key
	byID       map[string]Key
	generation atomic.Uint64
}

// NewKeyring returns a keyring of keys; at least one must have a private half.
func NewKeyring(keys ...Key) (*Keyring, error) {
	k := &Keyring{}
	if err := k.Replace(keys...); err != nil {
		return nil, err
	}
	return k, nil
}

// Replace swaps the keyring's keys for keys, as after a rotation. The
// newest key with a private half (see SortNewestFirst) signs.
func (k *Keyring) Replace(keys ...Key) error {
	byID := make(map[string]Key, len(keys))
	for _, key := range keys {
		if len(key.Public) != ed25519.PublicKeySize {
			return fmt.Errorf("key %q: public key is %d bytes, want %d", key.ID, len(key.Public), ed25519.PublicKeySize)
		}
		if key.ID != Thumbprint(key.Public) {
			return fmt.Errorf("key %q: kid does not match the key's thumbprint", key.ID)
		}
		byID[key.ID] = key
	}
	sorted := SortNewestFirst(keys)
	i := slices.IndexFunc(sorted, func(key Key) bool { return key.Private != nil })
	if i < 0 {
		return errors.New("keyring: no private key to sign with")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !sameKeys(k.byID, byID) || k.current.ID != sorted[i].ID {
		k.generation.Add(1)
	}
	k.current, k.byID = sorted[i], byID
	return nil
}

func sameKeys(a, b map[string]Key) bool {
	if len(a) != len(b) {
		return false
	}
	for id := range a {
		if _, ok := b[id]; !ok {
			return false
		}
	}
	return true
}

// Generation changes whenever Replace changes the keys (see
// Verifier.KeysGeneration).
func (k *Keyring) Generation() uint64 { return k.generation.Load() }

// SortNewestFirst returns keys ordered newest first, ties broken by kid, so
// every instance holding the same keys agrees on which is current.
func SortNewestFirst(keys []Key) []Key {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b Key) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return sorted
}

// Algorithm returns EdDSA.
func (k *Keyring) Algorithm() string { return EdDSA }

// SigningKey returns the current private key and its kid.
func (k *Keyring) SigningKey() (string, any) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current.ID, k.current.Private
}

// VerificationKey returns the public key named kid.
func (k *Keyring) VerificationKey(_ context.Context, kid string) (any, error) {
	k.mu.RLock()
	key, ok := k.byID[kid]
	k.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownKey
	}
	return key.Public, nil
}

// Keys returns the keys, newest first (SortNewestFirst).
func (k *Keyring) Keys() []Key {
	k.mu.RLock()
	keys := make([]Key, 0, len(k.byID))
	for _, key := range k.byID {
		keys = append(keys, key)
	}
	k.mu.RUnlock()
	return SortNewestFirst(keys)
}

// JWKS returns the public keys as JWKs, newest first.
func (k *Keyring) JWKS() []JWK {
	keys := k.Keys()
	out := make([]JWK, len(keys))
	for i, key := range keys {
		out[i] = NewJWK(key.Public)
	}
	return out
}

// HMACKey is an HS256 secret shared with other services (flask-jwt-extended).
// Its tokens carry no kid.
type HMACKey struct{ secret []byte }

// NewHMACKey returns an HS256 key; the secret must be at least MinHMACSecret bytes.
func NewHMACKey(secret []byte) (*HMACKey, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("hs256 secret is %d bytes, need at least %d", len(secret), MinHMACSecret)
	}
	return &HMACKey{secret: append([]byte(nil), secret...)}, nil
}

// Algorithm returns HS256.
func (h *HMACKey) Algorithm() string { return HS256 }

// SigningKey returns the secret with no kid.
func (h *HMACKey) SigningKey() (string, any) { return "", h.secret }

// VerificationKey returns the secret for tokens without a kid.
func (h *HMACKey) VerificationKey(_ context.Context, kid string) (any, error) {
	if kid != "" {
		return nil, ErrUnknownKey
	}
	return h.secret, nil
}

// JWK is a public key in RFC 8037 form.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// NewJWK describes an Ed25519 public key.
func NewJWK(pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP", Crv: "Ed25519", Alg: EdDSA, Use: "sig",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: Thumbprint(pub),
	}
}

// PublicKey checks a JWK and returns its Ed25519 key. The kid must be the
// key's thumbprint, so a JWKS cannot alias one key under another id.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != EdDSA) || (j.Use != "" && j.Use != "sig") {
		return nil, fmt.Errorf("jwk %q: not an Ed25519 signing key", j.Kid)
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("jwk %q: bad x", j.Kid)
	}
	pub := ed25519.PublicKey(x)
	if Thumbprint(pub) != j.Kid {
		return nil, fmt.Errorf("jwk %q: kid is not the key's thumbprint", j.Kid)
	}
	return pub, nil
}
