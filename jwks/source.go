package jwks

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/token"
)

// Source is a token.KeySource backed by authd's published keys. It caches
// them (default 10 minutes), refetches on an unknown kid at most once per
// cooldown (default 30 s, so forged kids cannot cause a fetch storm), and
// keeps verifying from its cache while authd is unreachable.
type Source struct {
	fetcher  Fetcher
	clock    clock.Clock
	ttl      time.Duration
	timeout  time.Duration
	reloader *Reloader

	mu         sync.RWMutex
	keys       map[string]ed25519.PublicKey
	fetched    time.Time // last successful fetch
	generation atomic.Uint64
}

var _ token.KeySource = (*Source)(nil)

// Option configures a Source.
type Option func(*config)

type config struct {
	clock    clock.Clock
	ttl      time.Duration
	cooldown time.Duration
}

// WithCacheTTL sets how long fetched keys are used before a refetch
// (default 10 minutes).
func WithCacheTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithCooldown sets the least time between two fetches caused by stale
// caches or unknown kids (default 30 s).
func WithCooldown(d time.Duration) Option { return func(c *config) { c.cooldown = d } }

// WithClock sets the time source (default the system clock).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// New returns a key source that fetches keys with f when first needed.
func New(f Fetcher, opts ...Option) *Source {
	cfg := config{clock: clock.System(), ttl: 10 * time.Minute, cooldown: 30 * time.Second}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &Source{
		fetcher: f, clock: cfg.clock, ttl: cfg.ttl, timeout: 5 * time.Second,
		reloader: NewReloader(cfg.clock, cfg.cooldown),
	}
}

// Algorithm returns EdDSA.
func (s *Source) Algorithm() string { return token.EdDSA }

// VerificationKey returns the key named kid, fetching when the cache is stale
// or does not know kid and the cooldown allows.
func (s *Source) VerificationKey(ctx context.Context, kid string) (any, error) {
	s.mu.RLock()
	key, known := s.keys[kid]
	stale := s.clock.Now().Sub(s.fetched) >= s.ttl
	s.mu.RUnlock()
	if known && !stale {
		return key, nil
	}
	_, fetchErr := s.reloader.Reload(ctx, s.fetch)
	s.mu.RLock()
	key, known = s.keys[kid]
	empty := len(s.keys) == 0
	s.mu.RUnlock()
	switch {
	case known:
		return key, nil // possibly from a stale cache while authd is down
	case empty && fetchErr != nil:
		return nil, fmt.Errorf("%w: %w", token.ErrKeysUnavailable, fetchErr)
	}
	return nil, token.ErrUnknownKey
}

// Refresh fetches the keys now, whatever the cache and cooldown say; call it
// at startup to fail fast when authd is unreachable.
func (s *Source) Refresh(ctx context.Context) error {
	return s.reloader.Force(ctx, s.fetch)
}

func (s *Source) fetch(ctx context.Context) error {
	// The caller's deadline may be tight or absent: bound the fetch itself.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	jwks, err := s.fetcher.FetchKeys(ctx)
	if err != nil {
		return err
	}
	keys := make(map[string]ed25519.PublicKey, len(jwks))
	var errs []error
	for _, k := range jwks {
		pub, err := k.PublicKey()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	now := s.clock.Now()
	s.mu.Lock()
	if !sameKeys(s.keys, keys) {
		s.generation.Add(1)
	}
	s.keys, s.fetched = keys, now
	s.mu.Unlock()
	return nil
}

func sameKeys(a, b map[string]ed25519.PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid := range a {
		if _, ok := b[kid]; !ok {
			return false
		}
	}
	return true
}

// Generation changes whenever a fetch brings a different key set (a key
// added or removed), so that caches of tokens verified with the old set
// forget them (token.Verifier.KeysGeneration, the interceptors' cache).
func (s *Source) Generation() uint64 { return s.generation.Load() }
