package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/ttlcache"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Store is what the engine needs of a backend: the session table and the
// revocation list.
type Store interface {
	store.Sessions
	store.Revocations
}

// Signer signs claims with authd's current key; *keys.Signer is one.
type Signer interface {
	Sign(c token.Claims) (string, error)
}

// ClaimsHook returns claims to add to an access token minted for subject
// with roles, at login, refresh and renewal (as flask-jwt-extended's
// additional_claims). Names of claims authd sets itself are ignored
// (token.RegisteredClaim), so a hook can never override them. It should
// answer the same for the same session: a spent refresh token presented
// again re-mints its successor pair. An error fails the call (Unavailable)
// without spending the refresh token.
type ClaimsHook func(ctx context.Context, subject string, roles []string) (map[string]any, error)

// Defaults of Config.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 24 * time.Hour
	DefaultSessionMax = 168 * time.Hour
	// DefaultReuseGrace is authd's --refresh-reuse-grace; Config's zero
	// ReuseGrace is strict (see Config.ReuseGrace).
	DefaultReuseGrace = 10 * time.Second
	// MaxReuseGrace bounds ReuseGrace.
	MaxReuseGrace = time.Minute
	// DefaultMaxSessions is authd's --max-sessions-per-user: the live
	// sessions one account may hold before a login revokes its oldest.
	DefaultMaxSessions = 100
	// DefaultCacheTTL bounds how stale the engine's view of a session may
	// be in Revoked: a session revoked by another instance, or by `authd
	// user disable`, is refused within it.
	DefaultCacheTTL = time.Second
	// cacheSize bounds the sessions Revoked remembers.
	cacheSize = 100000
)

// Config is the engine's policy. Zero lifetimes take the defaults.
type Config struct {
	// Signer signs the tokens; an engine without one only revokes (the
	// CLI's).
	Signer Signer
	// AccessTTL is the access-token lifetime (also of service-account
	// tokens).
	AccessTTL time.Duration
	// RefreshTTL is the refresh token's idle lifetime, restarted by each
	// rotation.
	RefreshTTL time.Duration
	// SessionMax is the absolute cap of a session from its login.
	SessionMax time.Duration
	// ReuseGrace is how long after a refresh token's successor was first
	// used the spent token is still refused with ErrSuperseded, the session
	// kept, rather than taken for reuse (a request delayed past its
	// sibling's); 0 is strict, at most MaxReuseGrace. It does not bound
	// how long a spent token whose successor is unused gets that successor
	// again: for as long as the successor stays unused (Engine.Refresh).
	ReuseGrace time.Duration
	// MaxSessions bounds the live sessions of one account: a login past it
	// revokes the account's oldest sessions, and announces them (OnRevoke)
	// like any revocation (0: DefaultMaxSessions). Service-account tokens
	// are not counted: each lives only AccessTTL.
	MaxSessions int
	// KeepRefreshToken turns rotation off: Refresh mints an access token
	// and the login's refresh token keeps working (flask-jwt-extended's
	// behaviour).
	KeepRefreshToken bool
	// Claims adds an embedder's claims to every access token.
	Claims ClaimsHook
	// CacheTTL is how long Revoked trusts what it read of a session (0:
	// DefaultCacheTTL).
	CacheTTL time.Duration
	// OnRevoke is called after sessions were revoked (no sids: every
	// session of an account), so that other instances and consumers hear
	// of it at once (the revocation feed). The engine's own cache forgets
	// them itself.
	OnRevoke func(ctx context.Context, sids ...string)
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// Validate reports what is wrong with the settings, if anything.
func (c Config) Validate() error {
	switch {
	case c.AccessTTL < 0 || c.RefreshTTL < 0 || c.SessionMax < 0:
		return errors.New("token lifetimes must be positive")
	case c.ReuseGrace < 0 || c.ReuseGrace > MaxReuseGrace:
		return fmt.Errorf("refresh reuse grace %s is outside [0, %s]", c.ReuseGrace, MaxReuseGrace)
	case c.MaxSessions < 0:
		return errors.New("sessions per user must be positive")
	}
	return nil
}

// Engine opens, rotates, renews and revokes sessions and mints their
// tokens. It is safe for concurrent use.
type Engine struct {
	store Store
	cfg   Config
	// sessions remembers, per sid, whether the session is revoked and
	// whom it is for: for Revoked, which every protected call of authd
	// asks.
	sessions *ttlcache.Cache[string, sessionView]
}

// New returns an engine over st.
func New(st Store, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.AccessTTL, DefaultAccessTTL)
	def(&cfg.RefreshTTL, DefaultRefreshTTL)
	def(&cfg.SessionMax, DefaultSessionMax)
	def(&cfg.CacheTTL, DefaultCacheTTL)
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	return &Engine{store: st, cfg: cfg, sessions: ttlcache.New[string, sessionView](cacheSize)}, nil
}

// Refusals of the engine, besides guard's (guard.ErrRevoked) and token's.
var (
	// ErrSessionCap: Renew at the session's cap. Not an authentication
	// failure (the token still works until it expires): only a new login
	// helps.
	ErrSessionCap = wire.NewError(codes.FailedPrecondition, wire.ReasonSessionCapReached, "session has reached its maximum age; log in again")
	// ErrNoSession: the token belongs to no authd session (it was minted
	// elsewhere, HS256 interop), so it can be neither refreshed nor renewed.
	ErrNoSession = fmt.Errorf("%w: token has no session", token.ErrInvalid)
	// ErrUserChanged: the account changed (password, roles, disabled)
	// between its check and the session: answered as if the check came a
	// moment later.
	ErrUserChanged = wire.NewError(codes.Unauthenticated, wire.ReasonInvalidCredentials, "invalid username or password")
	// errNoSigner: an engine built to revoke only was asked to mint.
	errNoSigner = errors.New("session engine has no signer")
)

// now is the engine's time, to the second, as tokens carry it.
func (e *Engine) now() time.Time { return e.cfg.Clock.Now().UTC().Truncate(time.Second) }

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
