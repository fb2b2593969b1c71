package revocation

import (
	"context"
	"fmt"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Checker tells whether a verified token's session (or the token) has been
// revoked.
type Checker interface {
	// Revoked reports whether claims' session is revoked. An error fails
	// the call closed with Unavailable.
	Revoked(ctx context.Context, claims *token.Claims) (bool, error)
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context, claims *token.Claims) (bool, error)

// Revoked calls f.
func (f CheckerFunc) Revoked(ctx context.Context, claims *token.Claims) (bool, error) {
	return f(ctx, claims)
}

// ErrStale: the Poller's list could not be refreshed within the staleness
// limit. It wraps wire.ErrUnavailable: calls fail closed.
var ErrStale = fmt.Errorf("%w: revocation list is stale", wire.ErrUnavailable)

// Option configures a Cache or a Poller; each ignores the options that are
// the other's.
type Option func(*config)

type config struct {
	clock    clock.Clock
	ttl      time.Duration // Cache
	size     int           // Cache
	interval time.Duration // Poller
	maxStale time.Duration // Poller
	pageSize int32         // Poller
}

func newConfig(opts []Option) config {
	c := config{
		clock:    clock.System(),
		ttl:      DefaultCacheTTL,
		size:     100000,
		interval: DefaultPollInterval,
		maxStale: DefaultMaxStaleness,
	}
	for _, opt := range opts {
		opt(&c)
	}
	return c
}

// Defaults.
const (
	// DefaultCacheTTL bounds how stale authd's view of a session may be: a
	// session revoked by another authd, or by `authd user disable`, is
	// refused by this one within it.
	DefaultCacheTTL = time.Second
	// DefaultPollInterval is how often a Poller asks authd.
	DefaultPollInterval = 5 * time.Second
	// DefaultMaxStaleness is how old a Poller's list may get, when polls
	// fail, before calls fail closed.
	DefaultMaxStaleness = time.Minute
)

// WithClock sets the time source (default the system clock).
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithCacheTTL sets how long a Cache trusts what it read of a session
// (default DefaultCacheTTL).
func WithCacheTTL(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithPollInterval sets how often a Poller polls (default
// DefaultPollInterval).
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithMaxStaleness sets how old a Poller's list may get, when polls fail,
// before calls fail closed (default DefaultMaxStaleness).
func WithMaxStaleness(d time.Duration) Option { return func(c *config) { c.maxStale = d } }

// WithPageSize sets the page size a Poller asks of authd (default authd's
// maximum).
func WithPageSize(n int32) Option { return func(c *config) { c.pageSize = n } }
