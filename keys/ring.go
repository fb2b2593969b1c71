package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/token"
)

// Ring is a serving keyring over a Backend: the newest active key signs
// (see Keyring), every stored key verifies, a key not yet active included.
// A token naming a kid the Ring does not hold makes it re-read the stored
// keys, at most once per cooldown (single-flight: the calls that meet an
// unknown kid meanwhile share one read), so a key another instance signs
// with before this one reloaded (`authd keys rotate --now`) verifies
// everywhere within seconds. Such a read changes nothing stored: pruning
// and creating keys are Open's and Reload's. It is safe for concurrent use.
type Ring struct {
	*Keyring
	manager *Manager
	reads   *flight.Limited
}

// readTimeout bounds one read of the stored keys caused by a token.
const readTimeout = 10 * time.Second

// Open prunes the keys whose tokens have all expired, then loads the rest,
// creating the first key when there is none.
func Open(ctx context.Context, b Backend, opts ...Option) (*Ring, error) {
	m := NewManager(b, opts...)
	// A read caused by a token runs detached from its call, so the calls
	// waiting on it share it; it is bounded by readTimeout.
	r := &Ring{manager: m, reads: flight.NewLimited(m.cfg.clock, m.cfg.cooldown, readTimeout)}
	if err := r.maintain(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Manager returns the Manager of the Ring's keys.
func (r *Ring) Manager() *Manager { return r.manager }

// Reload prunes the expired keys, creates one if none is left, then loads
// the stored keys (on SIGHUP, on a schedule). On failure the Ring keeps
// the keys it had.
func (r *Ring) Reload(ctx context.Context) error {
	return r.reads.Force(ctx, r.maintain)
}

func (r *Ring) maintain(ctx context.Context) error {
	if _, err := r.manager.Prune(ctx); err != nil {
		return err
	}
	if _, err := r.manager.Init(ctx); err != nil {
		return err
	}
	return r.load(ctx)
}

// load reads the stored keys into the keyring.
func (r *Ring) load(ctx context.Context) error {
	keys, err := r.manager.backend.Keys(ctx)
	if err != nil {
		return err
	}
	if r.Keyring == nil {
		r.Keyring, err = newKeyring(r.manager.cfg.clock, keys...)
		return err
	}
	return r.Keyring.Replace(keys...)
}

// VerificationKey returns the public key named kid, re-reading the stored
// keys once (per cooldown) when kid is unknown.
func (r *Ring) VerificationKey(ctx context.Context, kid string) (any, error) {
	key, err := r.Keyring.VerificationKey(ctx, kid)
	if !errors.Is(err, token.ErrUnknownKey) {
		return key, err
	}
	// A read that ran, or that this call joined, may have brought kid.
	if _, rerr := r.reads.Do(ctx, r.load); rerr != nil {
		return nil, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, rerr)
	}
	return r.Keyring.VerificationKey(ctx, kid)
}
