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

	"github.com/authd-dev/authd/clock"
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
	// Activates is when the key may start signing: until then it is
	// published and verifies, and the key before it signs. Zero: from the
	// start (a first key, a replacement after a revocation, a key made
	// before activation times existed).
	Activates time.Time
	Public    ed25519.PublicKey
	// Private is nil for a key known only by its public half.
	Private ed25519.PrivateKey
}

// SignsFrom is when the key starts signing: Activates, or Created when
// Activates is zero.
func (k Key) SignsFrom() time.Time {
	if k.Activates.IsZero() {
		return k.Created
	}
	return k.Activates
}

// activeAt reports whether the key may sign at now.
func (k Key) activeAt(now time.Time) bool { return !k.Activates.After(now) }

// NewKey generates an Ed25519 key created at now.
func NewKey(now time.Time) (Key, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return Key{}, fmt.Errorf("generate ed25519 key: %w", err)
	}
	return Key{ID: token.Thumbprint(pub), Created: now.UTC(), Public: pub, Private: priv}, nil
}

// Keyring holds Ed25519 keys, all of which verify. The newest key with a
// private half whose activation has come (Key.Activates) signs: a key
// rotated in ahead of time is published, and verifies, at once, and signs
// from its activation on, at the same instant on every instance that holds
// it, whoever loaded it first. It is safe for concurrent use.
type Keyring struct {
	clock      clock.Clock
	mu         sync.RWMutex
	signers    []Key // the keys with a private half, newest first
	current    Key
	changeAt   time.Time // the next activation, when current is chosen again (zero: none)
	byID       map[string]Key
	generation atomic.Uint64
}

// NewKeyring returns a keyring of keys on the system clock; at least one
// must have a private half.
func NewKeyring(keys ...Key) (*Keyring, error) { return newKeyring(clock.System(), keys...) }

func newKeyring(clk clock.Clock, keys ...Key) (*Keyring, error) {
	k := &Keyring{clock: clk}
	if err := k.Replace(keys...); err != nil {
		return nil, err
	}
	return k, nil
}

// Replace swaps the keyring's keys for keys, as after a rotation. The
// newest key with a private half (see SortNewestFirst) whose activation
// has come signs; when none has, the one that activates first.
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
	signers := slices.DeleteFunc(SortNewestFirst(keys), func(key Key) bool { return key.Private == nil })
	if len(signers) == 0 {
		return errors.New("keyring: no private key to sign with")
	}
	current, changeAt := schedule(signers, k.clock.Now())
	k.mu.Lock()
	defer k.mu.Unlock()
	if !sameKeys(k.byID, byID) || k.current.ID != current.ID {
		k.generation.Add(1)
	}
	k.signers, k.current, k.changeAt, k.byID = signers, current, changeAt, byID
	return nil
}

// schedule returns the key of signers (newest first, not empty) that signs
// at now — the newest active one, or when none is active yet the one that
// activates first — and the next activation after now, when that may
// change (zero: none).
func schedule(signers []Key, now time.Time) (current Key, changeAt time.Time) {
	i := slices.IndexFunc(signers, func(key Key) bool { return key.activeAt(now) })
	if i < 0 {
		i = 0
		for j, key := range signers {
			if key.Activates.Before(signers[i].Activates) {
				i = j
			}
		}
	}
	for _, key := range signers {
		if key.Activates.After(now) && (changeAt.IsZero() || key.Activates.Before(changeAt)) {
			changeAt = key.Activates
		}
	}
	return signers[i], changeAt
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

// SigningKey returns the private key that signs now and its kid.
func (k *Keyring) SigningKey() (string, any) {
	now := k.clock.Now()
	k.mu.RLock()
	current, due := k.current, !k.changeAt.IsZero() && !now.Before(k.changeAt)
	k.mu.RUnlock()
	if due {
		current = k.advance(now)
	}
	return current.ID, current.Private
}

// advance chooses the signing key again once an activation has come.
func (k *Keyring) advance(now time.Time) Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.changeAt.IsZero() && !now.Before(k.changeAt) {
		k.current, k.changeAt = schedule(k.signers, now)
	}
	return k.current
}

// Next returns the key that will sign after the one signing now, if one is
// scheduled: from its Activates on.
func (k *Keyring) Next() (Key, bool) {
	now := k.clock.Now()
	k.mu.RLock()
	signers := k.signers // never modified, only replaced
	k.mu.RUnlock()
	current, at := schedule(signers, now)
	for !at.IsZero() {
		next, after := schedule(signers, at)
		if next.ID != current.ID {
			return next, true
		}
		at = after
	}
	return Key{}, false
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
