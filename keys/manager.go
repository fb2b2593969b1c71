package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/token"
)

// reloadSlack covers a running authd that picks a rotated key up late.
const reloadSlack = time.Hour

// Keep is how long after its retirement a key keeps verifying: the longest
// token lifetime, plus clock leeway and a late reload, after which every
// token it signed has expired.
func Keep(accessTTL, refreshTTL time.Duration) time.Duration {
	return max(accessTTL, refreshTTL) + token.MaxLeeway + reloadSlack
}

// Option configures a Manager or a Ring.
type Option func(*config)

type config struct {
	clock    clock.Clock
	keep     time.Duration
	logger   *slog.Logger
	cooldown time.Duration
}

// WithClock sets the time source (default the system clock).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithKeep sets how long a retired key keeps verifying (default Keep of
// authd's default lifetimes).
func WithKeep(d time.Duration) Option { return func(c *config) { c.keep = d } }

// WithLogger sets where prunes and reloads are reported (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithReloadCooldown sets the least time between two reloads caused by
// tokens naming an unknown kid (default 10 s).
func WithReloadCooldown(d time.Duration) Option { return func(c *config) { c.cooldown = d } }

// Manager runs the lifecycle operations on the keys of a Backend.
type Manager struct {
	backend Backend
	cfg     config
}

// NewManager returns a Manager of the keys in b.
func NewManager(b Backend, opts ...Option) *Manager {
	cfg := config{
		clock:    clock.System(),
		keep:     Keep(15*time.Minute, 24*time.Hour),
		logger:   slog.Default(),
		cooldown: 10 * time.Second,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	return &Manager{backend: b, cfg: cfg}
}

// State is a stored key and where it is in its life.
type State struct {
	Key Key
	// Current: the key signs new tokens.
	Current bool
	// Until is when a retired key stops verifying: every token it signed
	// has expired by then. Zero for the current key.
	Until time.Time
}

// Expired reports whether a retired key has outlived its tokens at now
// (the next Prune deletes it).
func (s State) Expired(now time.Time) bool { return !s.Current && !now.Before(s.Until) }

// List returns every stored key, newest (current) first, with its state.
func (m *Manager) List(ctx context.Context) ([]State, error) {
	keys, err := m.backend.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	return m.states(keys), nil
}

func (m *Manager) states(keys []Key) []State {
	sorted := SortNewestFirst(keys)
	out := make([]State, len(sorted))
	for i, k := range sorted {
		out[i] = State{Key: k, Current: i == 0}
		if i > 0 {
			// Retired when the next newer key was created: the tokens it
			// signed were issued before then.
			out[i].Until = sorted[i-1].Created.Add(m.cfg.keep)
		}
	}
	return out
}

// Rotate adds a new key, which becomes current. It first checks that the
// stored keys all load (with the database, that the secret opens them): a
// key added with another secret would leave instances unable to read it.
func (m *Manager) Rotate(ctx context.Context) (Key, error) {
	if _, err := m.backend.Keys(ctx); err != nil {
		return Key{}, err
	}
	return m.add(ctx)
}

func (m *Manager) add(ctx context.Context) (Key, error) {
	key, err := NewKey(m.cfg.clock.Now())
	if err != nil {
		return Key{}, err
	}
	if err := m.backend.Add(ctx, key); err != nil {
		return Key{}, err
	}
	return key, nil
}

// Init creates the first key when there is none, and reports whether it
// did. It checks that the stored keys all load, as Rotate does.
func (m *Manager) Init(ctx context.Context) (bool, error) {
	keys, err := m.backend.Keys(ctx)
	if err != nil || len(keys) > 0 {
		return false, err
	}
	_, err = m.add(ctx)
	return err == nil, err
}

// Prune deletes the retired keys whose tokens have all expired and returns
// them. The current key is never pruned.
func (m *Manager) Prune(ctx context.Context) ([]Key, error) {
	keys, err := m.backend.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	var pruned []Key
	now := m.cfg.clock.Now()
	for _, s := range m.states(keys) {
		if !s.Expired(now) {
			continue
		}
		if err := m.backend.Delete(ctx, s.Key.ID); err != nil {
			return pruned, fmt.Errorf("prune key %s: %w", s.Key.ID, err)
		}
		m.cfg.logger.Info("pruned a retired signing key: every token it signed has expired", "kid", s.Key.ID)
		pruned = append(pruned, s.Key)
	}
	return pruned, nil
}

// ErrUnknownKey: no stored key has the kid.
var ErrUnknownKey = errors.New("no such signing key")

// Revoke deletes the key kid at once, for a key that may be compromised:
// every token it signed stops verifying as soon as instances reload. When
// kid is the current key, a new key is made current first and returned.
func (m *Manager) Revoke(ctx context.Context, kid string) (replacement *Key, err error) {
	keys, err := m.backend.Keys(ctx)
	if err != nil {
		return nil, err
	}
	states := m.states(keys)
	i := -1
	for j, s := range states {
		if s.Key.ID == kid {
			i = j
		}
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
	}
	if states[i].Current {
		key, err := m.add(ctx)
		if err != nil {
			return nil, err
		}
		replacement = &key
	}
	if err := m.backend.Delete(ctx, kid); err != nil {
		return replacement, err
	}
	return replacement, nil
}
