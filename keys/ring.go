package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
)

// Ring is a serving keyring over a Backend: the newest key signs, every
// stored key verifies. A token naming a kid the Ring does not hold makes it
// reload, at most once per cooldown, so a key added by another instance
// (or by `authd keys rotate`) verifies everywhere at once. It is safe for
// concurrent use.
type Ring struct {
	*token.Keyring
	manager  *Manager
	reloader *jwks.Reloader
}

// Open prunes the keys whose tokens have all expired, then loads the rest,
// creating the first key when there is none.
func Open(ctx context.Context, b Backend, opts ...Option) (*Ring, error) {
	m := NewManager(b, opts...)
	r := &Ring{manager: m, reloader: jwks.NewReloader(m.cfg.clock, m.cfg.cooldown)}
	if err := r.reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Manager returns the Manager of the Ring's keys.
func (r *Ring) Manager() *Manager { return r.manager }

// Reload prunes, then loads the stored keys (on SIGHUP, on a schedule).
// On failure the Ring keeps the keys it had.
func (r *Ring) Reload(ctx context.Context) error {
	return r.reloader.Force(ctx, r.reload)
}

func (r *Ring) reload(ctx context.Context) error {
	if _, err := r.manager.Prune(ctx); err != nil {
		return err
	}
	if _, err := r.manager.Init(ctx); err != nil {
		return err
	}
	keys, err := r.manager.backend.Keys(ctx)
	if err != nil {
		return err
	}
	if r.Keyring == nil {
		r.Keyring, err = token.NewKeyring(keys...)
		return err
	}
	return r.Keyring.Replace(keys...)
}

// VerificationKey returns the public key named kid, reloading once (per
// cooldown) when kid is unknown.
func (r *Ring) VerificationKey(ctx context.Context, kid string) (any, error) {
	key, err := r.Keyring.VerificationKey(ctx, kid)
	if !errors.Is(err, token.ErrUnknownKey) {
		return key, err
	}
	// A reload that ran or that this call waited for may have brought kid.
	if _, rerr := r.reloader.Reload(ctx, r.reload); rerr != nil {
		return nil, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, rerr)
	}
	return r.Keyring.VerificationKey(ctx, kid)
}
