package keys

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd-dev/authd/token"
)

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
	return Key{ID: token.Thumbprint(pub), Created: now.UTC(), Public: pub, Private: priv}, nil
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
		if key.ID != token.Thumbprint(key.Public) {
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
func (k *Keyring) Algorithm() string { return token.EdDSA }

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
		return nil, token.ErrUnknownKey
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
func (k *Keyring) JWKS() []token.JWK {
	keys := k.Keys()
	out := make([]token.JWK, len(keys))
	for i, key := range keys {
		out[i] = token.NewJWK(key.Public)
	}
	return out
}
