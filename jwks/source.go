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
	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/token"
)

// Defaults of Config.
const (
	DefaultCacheTTL = 10 * time.Minute
	// DefaultCooldown is short: a token signed with a key the Source has
	// not fetched yet is refused until the next fetch the cooldown
	// allows, and forged kids cost authd one JWKS fetch per cooldown from
	// each consumer, however many arrive.
	DefaultCooldown     = 5 * time.Second
	DefaultFetchTimeout = 5 * time.Second
)

// Config is how a Source caches; the zero value is the default.
type Config struct {
	// CacheTTL is how long fetched keys are used before a refetch (0:
	// DefaultCacheTTL).
	CacheTTL time.Duration
	// Cooldown is the least time between two fetches caused by a stale
	// cache or an unknown kid (0: DefaultCooldown), so that forged kids
	// cannot cause a fetch storm: at most one fetch per cooldown, which
	// the calls meeting an unknown kid while it runs share.
	Cooldown time.Duration
	// FetchTimeout bounds one fetch (0: DefaultFetchTimeout). A fetch runs
	// detached from the call that needed it, so that the calls waiting
	// for it share it; none waits past its own deadline.
	FetchTimeout time.Duration
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// Source is a token.KeySource backed by authd's published keys. It caches
// them, refetches on an unknown kid at most once per cooldown, and keeps
// verifying from its cache while authd is unreachable.
type Source struct {
	fetcher Fetcher
	clock   clock.Clock
	ttl     time.Duration
	fetches *flight.Limited

	mu         sync.RWMutex
	keys       map[string]ed25519.PublicKey
	fetched    time.Time // last successful fetch
	generation atomic.Uint64
}

var _ token.KeySource = (*Source)(nil)

// New returns a key source that fetches keys with f when first needed.
func New(f Fetcher, cfg Config) *Source {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	return &Source{
		fetcher: f, clock: cfg.Clock, ttl: orDefault(cfg.CacheTTL, DefaultCacheTTL),
		fetches: flight.NewLimited(cfg.Clock, orDefault(cfg.Cooldown, DefaultCooldown), orDefault(cfg.FetchTimeout, DefaultFetchTimeout)),
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
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
	_, fetchErr := s.fetches.Do(ctx, s.fetch)
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
	return s.fetches.Force(ctx, s.fetch)
}

func (s *Source) fetch(ctx context.Context) error {
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
