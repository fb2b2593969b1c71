package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Store is what the service needs of a backend.
type Store interface {
	store.Users
	store.Clients
	store.Sessions
	store.Revocations
	store.Throttles
}

// JWKSource lists the public keys to publish; nil in HS256 mode.
type JWKSource interface {
	JWKS() []token.JWK
}

// Service implements authv1.AuthServiceServer.
type Service struct {
	authv1.UnimplementedAuthServiceServer

	store       Store
	signer      *token.Signer
	authn       *interceptors.Authenticator
	revocations *revocation.Cache
	hasher      *password.Hasher
	accounts    *accounts.Manager
	cfg         config
}

// Option configures a Service.
type Option func(*config)

type config struct {
	clock          clock.Clock
	logger         *slog.Logger
	jwks           JWKSource
	accessTTL      time.Duration
	refreshTTL     time.Duration
	sessionMax     time.Duration
	reuseGrace     time.Duration
	rotation       bool
	throttle       ThrottlePolicy
	throttleOn     bool
	metrics        *Metrics
	throttles      store.Throttles
	feed           func(ctx context.Context, sid string) error
	extraClaims    ClaimsHook
	trustedProxies []netip.Prefix
	revocationTTL  time.Duration
}

// ClaimsHook returns claims to add to an access token minted for subject
// with roles, at login, refresh and renewal (as flask-jwt-extended's
// additional_claims). Names of claims authd sets itself are ignored
// (token.RegisteredClaim), so a hook can never override them. It should
// answer the same for the same session: a refresh retried within the
// grace window re-mints the pair. An error fails the call (Unavailable).
type ClaimsHook func(ctx context.Context, subject string, roles []string) (map[string]any, error)

// WithAdditionalClaims adds the claims of h to every access token.
func WithAdditionalClaims(h ClaimsHook) Option { return func(cfg *config) { cfg.extraClaims = h } }

// Defaults (DESIGN.md, "Tokens").
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 24 * time.Hour
	DefaultSessionMax = 168 * time.Hour
	DefaultReuseGrace = 10 * time.Second
)

// WithClock sets the time source.
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clock = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

// WithJWKS publishes the keys of src through GetJWKS.
func WithJWKS(src JWKSource) Option { return func(cfg *config) { cfg.jwks = src } }

// WithAccessTTL sets the access-token lifetime (default 15m).
func WithAccessTTL(d time.Duration) Option { return func(cfg *config) { cfg.accessTTL = d } }

// WithRefreshTTL sets the refresh token's idle lifetime, restarted by each
// rotation (default 24h).
func WithRefreshTTL(d time.Duration) Option { return func(cfg *config) { cfg.refreshTTL = d } }

// WithSessionMax sets the absolute session cap from auth_time (default 168h).
func WithSessionMax(d time.Duration) Option { return func(cfg *config) { cfg.sessionMax = d } }

// WithReuseGrace sets how long a spent refresh token still returns the same
// successor pair (default 10s; 0 is strict).
func WithReuseGrace(d time.Duration) Option { return func(cfg *config) { cfg.reuseGrace = d } }

// WithRotation turns refresh-token rotation on (the default) or off, for
// clients that expect a fixed refresh token.
func WithRotation(on bool) Option { return func(cfg *config) { cfg.rotation = on } }

// WithThrottle sets the login-throttling policy (default
// DefaultThrottlePolicy).
func WithThrottle(p ThrottlePolicy) Option { return func(cfg *config) { cfg.throttle = p } }

// WithoutThrottle turns login throttling off: for tests of other things.
func WithoutThrottle() Option { return func(cfg *config) { cfg.throttleOn = false } }

// WithMetrics counts logins, refreshes, reuse and revocations in m, and
// makes NewServer record per-method metrics in it.
func WithMetrics(m *Metrics) Option { return func(cfg *config) { cfg.metrics = m } }

// WithRevocationCacheTTL sets how long authd trusts what it read of a
// session (default revocation.DefaultCacheTTL, 1 s): a revocation made by
// another instance is seen within it.
func WithRevocationCacheTTL(d time.Duration) Option {
	return func(cfg *config) { cfg.revocationTTL = d }
}

// WithTrustedProxies trusts the x-forwarded-for and forwarded metadata of
// callers whose address is in one of prefixes (a load balancer, a gateway):
// throttling then counts the client they name. Other callers' forwarding
// metadata is ignored.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(cfg *config) { cfg.trustedProxies = prefixes }
}

// WithThrottleCounters keeps login-failure counters in t (Redis, shared by
// every instance) instead of the store.
func WithThrottleCounters(t store.Throttles) Option { return func(cfg *config) { cfg.throttles = t } }

// WithRevocationFeed announces each revocation this service makes with
// publish (sid "" for several unnamed sessions), so other instances and
// consumers learn of it at once. Errors are logged: the store stays the
// truth, and listeners also poll.
func WithRevocationFeed(publish func(ctx context.Context, sid string) error) Option {
	return func(cfg *config) { cfg.feed = publish }
}

// New returns the service, signing with signer and verifying with verifier
// (both over the same keys). It builds the one Authenticator that protects
// it (NewServer) and that Verify, Logout and renewals answer with, checking
// revocations through a revocation.Cache over st.
func New(st Store, signer *token.Signer, verifier interceptors.Verifier, hasher *password.Hasher, opts ...Option) (*Service, error) {
	cfg := config{
		clock: clock.System(), logger: slog.Default(),
		accessTTL: DefaultAccessTTL, refreshTTL: DefaultRefreshTTL, sessionMax: DefaultSessionMax,
		reuseGrace: DefaultReuseGrace, rotation: true,
		throttle: DefaultThrottlePolicy, throttleOn: true,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	switch {
	case cfg.accessTTL <= 0 || cfg.refreshTTL <= 0 || cfg.sessionMax <= 0:
		return nil, errors.New("token lifetimes must be positive")
	case cfg.reuseGrace < 0 || cfg.reuseGrace > time.Minute:
		return nil, fmt.Errorf("refresh reuse grace %s is outside [0, 1m]", cfg.reuseGrace)
	}
	if cfg.throttles == nil {
		cfg.throttles = st
	}
	cfg.logger = withRequestIDs(cfg.logger)
	revocations := revocation.NewCache(st, revocation.WithClock(cfg.clock), revocation.WithCacheTTL(cfg.revocationTTL))
	authn := interceptors.New(verifier,
		interceptors.WithClock(cfg.clock),
		interceptors.WithPublicHealthAndReflection(),
		interceptors.WithRevocations(revocation.CheckerFunc(func(ctx context.Context, c *token.Claims) (bool, error) {
			// Refresh and Renew read the session themselves, in the same
			// call and with every check this one makes (liveSession): no
			// second read.
			switch m, _ := grpc.Method(ctx); m {
			case authv1.AuthService_Refresh_FullMethodName, authv1.AuthService_Renew_FullMethodName:
				return false, nil
			}
			return revocations.Revoked(ctx, c)
		})),
	)
	s := &Service{store: st, signer: signer, authn: authn, revocations: revocations, hasher: hasher, cfg: cfg}
	s.accounts = accounts.New(st, hasher, accounts.WithClock(cfg.clock), accounts.WithRevocationHook(s.revoked))
	return s, nil
}

// Revocations is the cache through which the service checks sessions. A
// revocation feed (package revocation/redisfeed) tells it of other
// instances' revocations with Forget.
func (s *Service) Revocations() *revocation.Cache { return s.revocations }

// revoked is called after this service revoked sessions (none: every
// session of a user).
func (s *Service) revoked(ctx context.Context, sids ...string) {
	s.revocations.Forget(sids...)
	if s.cfg.feed == nil {
		return
	}
	if len(sids) == 0 {
		sids = []string{""}
	}
	for _, sid := range sids {
		if err := s.cfg.feed(ctx, sid); err != nil {
			s.cfg.logger.WarnContext(ctx, "revocation feed: publish failed", "err", err)
		}
	}
}

func (s *Service) now() time.Time { return s.cfg.clock.Now().UTC().Truncate(time.Second) }

// GetJWKS implements authv1.AuthServiceServer.
func (s *Service) GetJWKS(context.Context, *authv1.GetJWKSRequest) (*authv1.GetJWKSResponse, error) {
	resp := &authv1.GetJWKSResponse{}
	if s.cfg.jwks == nil {
		return resp, nil
	}
	for _, k := range s.cfg.jwks.JWKS() {
		resp.Keys = append(resp.Keys, &authv1.JWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
	}
	return resp, nil
}

// Verify implements authv1.AuthServiceServer: it answers with exactly what an
// interceptor demanding req.Requirement would do.
func (s *Service) Verify(ctx context.Context, req *authv1.VerifyRequest) (*authv1.VerifyResponse, error) {
	if _, known := authv1.Requirement_name[int32(req.GetRequirement())]; !known {
		return nil, invalidArgument("unknown requirement %d", req.GetRequirement())
	}
	raw := req.GetToken()
	if raw == "" {
		var err error
		if raw, err = interceptors.BearerFromContext(ctx); err != nil {
			return nil, wire.StatusError(err)
		}
	}
	claims, err := s.authn.Authorize(ctx, raw, req.GetRequirement())
	if err != nil {
		return nil, wire.StatusError(err)
	}
	return &authv1.VerifyResponse{Claims: &authv1.Claims{
		Subject:   claims.Subject,
		Type:      string(claims.Type),
		Fresh:     claims.FreshAt(s.cfg.clock.Now()),
		Jti:       claims.ID,
		Sid:       claims.SessionID,
		IssuedAt:  unixOrZero(claims.IssuedTime()),
		ExpiresAt: unixOrZero(claims.Expiry()),
		AuthTime:  unixOrZero(claims.AuthenticatedAt()),
		Issuer:    claims.Issuer,
		Audience:  claims.Audience,
		Roles:     claims.Roles,
		Scopes:    claims.Scopes(),
	}}, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
