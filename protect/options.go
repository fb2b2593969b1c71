package protect

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/token"
)

type config struct {
	issuer, audience string
	leeway           time.Duration
	maxLifetime      time.Duration
	clock            clock.Clock
	logger           *slog.Logger
	poll             bool
	pollInterval     time.Duration
	maxStaleness     time.Duration
	feed             func(ctx context.Context, nudge func()) error
	renew            bool
	renewThreshold   float64
	authn            []interceptors.Option
}

func newConfig(opts []Option) config {
	c := config{
		issuer:       token.DefaultIssuer,
		audience:     token.DefaultIssuer,
		clock:        clock.System(),
		logger:       slog.Default(),
		poll:         true,
		pollInterval: revocation.DefaultPollInterval,
		maxStaleness: revocation.DefaultMaxStaleness,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Option configures New.
type Option func(*config)

// WithIssuer sets the iss the tokens must carry (default "authd", authd's
// --issuer).
func WithIssuer(iss string) Option { return func(c *config) { c.issuer = iss } }

// WithAudience sets the aud the tokens must carry (default "authd", authd's
// --audience).
func WithAudience(aud string) Option { return func(c *config) { c.audience = aud } }

// WithLeeway allows d of clock skew between authd and this service when
// checking exp, nbf and iat (default none; at most token.MaxLeeway).
func WithLeeway(d time.Duration) Option { return func(c *config) { c.leeway = d } }

// WithSessionMax refuses tokens whose exp is more than d away: set it to
// authd's --session-max (default token.DefaultMaxLifetime, 168h), so that
// a token minted with a stolen key cannot outlive any real session.
func WithSessionMax(d time.Duration) Option { return func(c *config) { c.maxLifetime = d } }

// WithClock sets the time source of the verifier, the poller and the
// interceptors (default the system clock); tests pass a fake one.
func WithClock(clk clock.Clock) Option { return func(c *config) { c.clock = clk } }

// WithLogger sets where failed revocation polls are reported (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithPollInterval sets how often authd's revocation list is fetched
// (default revocation.DefaultPollInterval, 5 s): a logged-out session's
// tokens are refused within it. It must be positive; see
// WithoutRevocationPolling to turn polling off.
func WithPollInterval(d time.Duration) Option { return func(c *config) { c.pollInterval = d } }

// WithMaxStaleness sets how long protected calls are still served after
// the last successful poll; past it they fail closed with Unavailable
// (default revocation.DefaultMaxStaleness, 1 min).
func WithMaxStaleness(d time.Duration) Option { return func(c *config) { c.maxStaleness = d } }

// WithoutRevocationPolling turns revocation checks off: a logged-out
// session's access tokens then work here until they expire. Only for
// services whose calls a revoked session may still make.
func WithoutRevocationPolling() Option { return func(c *config) { c.poll = false } }

// WithRevocationFeed calls subscribe once, after the first poll, with a
// function that makes the poller poll at once; subscribe hooks it to a
// revocation feed so that logouts are heard of in milliseconds rather than
// at the next poll:
//
//	protect.WithRevocationFeed(func(ctx context.Context, nudge func()) error {
//		return redisfeed.Subscribe(ctx, rdb, func(string) { nudge() })
//	})
//
// An error from subscribe fails New.
func WithRevocationFeed(subscribe func(ctx context.Context, nudge func()) error) Option {
	return func(c *config) { c.feed = subscribe }
}

// WithRenewal turns sliding sessions on: a call whose access token has
// used more than threshold of its life (0: interceptors'
// DefaultRenewalThreshold) gets a renewed token from authd's Renew in the
// x-access-token response header, which package client adopts.
//
// Renewal is off by default: it makes a call to authd on the request path
// and keeps a session's access tokens alive without a refresh, which only
// services whose clients adopt the header want.
func WithRenewal(threshold float64) Option {
	return func(c *config) { c.renew, c.renewThreshold = true, threshold }
}

// WithAuthenticatorOptions passes opts to interceptors.New after protect's
// own, so they can add to them or override them (WithMethod,
// WithFreshMaxAge, WithDefault, …).
func WithAuthenticatorOptions(opts ...interceptors.Option) Option {
	return func(c *config) { c.authn = append(c.authn, opts...) }
}
