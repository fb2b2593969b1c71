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

// DefaultPropagationDelay is how long Rotate's key is published before it
// signs. It exceeds what it takes for the key to reach every verifier: a
// serving authd loads it within its key reload (a minute), the JWKS over
// HTTP may be cached on the way for its max-age (5 minutes), and a
// consumer caches what it fetched for jwks.DefaultCacheTTL (10 minutes).
const DefaultPropagationDelay = 20 * time.Minute

// DefaultReloadCooldown is the least time a Ring leaves between two
// re-reads of the stored keys caused by tokens naming a kid it does not
// hold.
const DefaultReloadCooldown = 2 * time.Second

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
	delay    time.Duration
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
// tokens naming an unknown kid (default DefaultReloadCooldown).
func WithReloadCooldown(d time.Duration) Option { return func(c *config) { c.cooldown = d } }

// WithPropagationDelay sets how long after Rotate the new key starts
// signing (default DefaultPropagationDelay); 0 makes it sign at once, on
// each instance as soon as it reloads, which another instance's consumers
// may not yet know.
func WithPropagationDelay(d time.Duration) Option { return func(c *config) { c.delay = max(d, 0) } }

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
		cooldown: DefaultReloadCooldown,
		delay:    DefaultPropagationDelay,
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
	// Next: the key is published and verifies, and signs from its
	// Activates on (Rotate made it; instances load it meanwhile).
	Next bool
	// Until is when a retired key stops verifying: every token it signed
	// has expired by then. Zero for the current and next keys.
	Until time.Time
}

// Expired reports whether a retired key has outlived its tokens at now
// (the next Prune deletes it).
func (s State) Expired(now time.Time) bool { return !s.Current && !s.Next && !now.Before(s.Until) }

// List returns every stored key, newest first, with its state.
func (m *Manager) List(ctx context.Context) ([]State, error) {
	keys, err := m.backend.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	return m.states(keys, m.cfg.clock.Now()), nil
}

// states are keys' states at now, newest first. The key that signs is the
// one a Keyring holding them all chooses; a newer one not yet active is
// next; an older one is retired since the first newer key started signing
// (the tokens it signed were issued before then), and verifies for keep
// after that.
func (m *Manager) states(keys []Key, now time.Time) []State {
	sorted := SortNewestFirst(keys)
	out := make([]State, len(sorted))
	if len(sorted) == 0 {
		return out
	}
	current, _ := schedule(sorted, now)
	var retiredAt time.Time // the earliest start of the keys newer than sorted[i]
	newer := true           // sorted[i] is newer than the current key
	for i, k := range sorted {
		out[i] = State{Key: k}
		switch {
		case k.ID == current.ID:
			out[i].Current, newer = true, false
		case newer:
			out[i].Next = true
		default:
			out[i].Until = retiredAt.Add(m.cfg.keep)
		}
		if start := k.SignsFrom(); i == 0 || start.Before(retiredAt) {
			retiredAt = start
		}
	}
	return out
}

// Rotate adds a new key, which is published at once and signs from the
// propagation delay on (WithPropagationDelay), replacing the current key
// then. It first checks that the stored keys all load (with the database,
// that the secret opens them): a key added with another secret would leave
// instances unable to read it.
func (m *Manager) Rotate(ctx context.Context) (Key, error) {
	if _, err := m.backend.Keys(ctx); err != nil {
		return Key{}, err
	}
	return m.add(ctx, m.cfg.delay)
}

// add stores a new key that signs from delay on (at once when 0).
func (m *Manager) add(ctx context.Context, delay time.Duration) (Key, error) {
	now := m.cfg.clock.Now()
	key, err := NewKey(now)
	if err != nil {
		return Key{}, err
	}
	if delay > 0 {
		key.Activates = key.Created.Add(delay)
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
	_, err = m.add(ctx, 0)
	return err == nil, err
}

// Prune deletes the retired keys whose tokens have all expired and returns
// them. The current and next keys are never pruned.
func (m *Manager) Prune(ctx context.Context) ([]Key, error) {
	keys, err := m.backend.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	var pruned []Key
	now := m.cfg.clock.Now()
	for _, s := range m.states(keys, now) {
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
// kid is the current key, a new key that signs at once (no propagation
// delay: the revoked key must stop signing now) is added first and
// returned.
func (m *Manager) Revoke(ctx context.Context, kid string) (replacement *Key, err error) {
	keys, err := m.backend.Keys(ctx)
	if err != nil {
		return nil, err
	}
	states := m.states(keys, m.cfg.clock.Now())
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
		key, err := m.add(ctx, 0)
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
