package interceptors

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Verifier checks a raw token's signature and registered claims;
// *token.Verifier is one, whatever its key source (authd's keys, or
// package jwks for services that verify with authd's published keys).
type Verifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
}

// Authenticator enforces each method's Requirement on incoming calls. It is
// safe for concurrent use; build one per server with New.
type Authenticator struct {
	verifier     Verifier
	policy       *policy
	clock        clock.Clock
	cache        *verifiedCache
	revocations  revocation.Checker
	freshMaxAge  time.Duration
	streamExpiry bool
	recheck      time.Duration
	renewals     *renewals
}

// New returns an Authenticator that verifies tokens with v.
func New(v Verifier, opts ...Option) *Authenticator {
	cfg := defaultConfig()
	for _, opt := range opts {
		opt(&cfg)
	}
	a := &Authenticator{
		verifier: v,
		policy: &policy{
			methods: cfg.methods, services: cfg.services, files: cfg.files, fallback: cfg.fallback,
		},
		clock:        cfg.clock,
		revocations:  cfg.revocations,
		freshMaxAge:  cfg.freshMaxAge,
		streamExpiry: cfg.streamExpiry,
		recheck:      cfg.streamRecheck,
	}
	if cfg.renewer != nil {
		a.renewals = newRenewals(cfg.renewer, cfg.renewThreshold)
	}
	if cfg.cacheSize > 0 {
		a.cache = newVerifiedCache(cfg.cacheSize)
	}
	return a
}

// Requirement returns the requirement the Authenticator applies to fullMethod
// ("/pkg.Service/Method").
func (a *Authenticator) Requirement(fullMethod string) Requirement {
	return a.policy.resolution(fullMethod).rule.Requirement
}

// Rule returns the rule the Authenticator applies to fullMethod.
func (a *Authenticator) Rule(fullMethod string) Rule {
	return a.policy.resolution(fullMethod).rule.clone()
}

// UnaryServerInterceptor enforces the policy on unary calls.
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor enforces the policy when a stream opens. While
// the stream is open it ends it with TOKEN_EXPIRED when its token expires
// (unless turned off with WithStreamExpiry(false)) and, with
// WithRevocations, with TOKEN_REVOKED once the checker says the session is
// revoked (checked every WithStreamRevocationCheck interval).
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		claims, ok := ClaimsFromContext(ctx)
		watchRevocation := ok && a.revocations != nil && claims.SessionID != ""
		if !ok || (!a.streamExpiry && !watchRevocation) {
			return handler(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
		}
		return a.serveGuarded(ctx, srv, ss, claims, watchRevocation, handler)
	}
}

// AuthFunc authenticates the call in ctx as the interceptors do, returning
// ctx with the claims. It has the shape of go-grpc-middleware's auth.AuthFunc,
// so it also plugs into auth.UnaryServerInterceptor behind a selector.
func (a *Authenticator) AuthFunc(ctx context.Context) (context.Context, error) {
	method, ok := grpc.Method(ctx)
	if !ok {
		return nil, wire.StatusError(fmt.Errorf("%w: no method in context", wire.ErrMissing))
	}
	return a.authenticate(ctx, method)
}

func (a *Authenticator) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	res := a.policy.resolution(fullMethod)
	if res.invalid != nil {
		return nil, wire.StatusError(fmt.Errorf("method %s: %w", fullMethod, res.invalid)) // fails closed as Internal
	}
	req := res.rule.Requirement
	if req == Public {
		return ctx, nil
	}
	raw, err := BearerFromContext(ctx)
	if errors.Is(err, errNoToken) && req == Optional {
		return ctx, nil
	}
	if err != nil {
		return nil, wire.StatusError(err)
	}
	claims, err := a.Authorize(ctx, raw, req)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	// Authorization after authentication: a caller without a token hears
	// TOKEN_MISSING, one with an expired token TOKEN_EXPIRED, before any
	// PermissionDenied.
	if err := res.rule.permits(claims); err != nil {
		return nil, wire.StatusError(err)
	}
	a.renew(ctx, req, raw, claims)
	return ContextWithClaims(ctx, claims), nil
}

// Authorize verifies raw and checks it against req, returning its claims or
// an error that wire.StatusError maps to the error table. It is what the
// interceptors run, exposed for AuthService.Verify: REQUIREMENT_UNSPECIFIED
// counts as Access, and Public accepts any valid token.
func (a *Authenticator) Authorize(ctx context.Context, raw string, req Requirement) (*token.Claims, error) {
	claims, err := a.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	switch req {
	case Refresh:
		if claims.Type != token.Refresh {
			return nil, wire.ErrRefreshRequired
		}
	case FreshAccess:
		if claims.Type != token.Access {
			return nil, wire.ErrAccessRequired
		}
		if !a.fresh(claims) {
			return nil, wire.ErrFreshRequired
		}
	case Access, Optional, unspecified:
		if claims.Type != token.Access {
			return nil, wire.ErrAccessRequired
		}
	case Public:
		// Only the token itself is checked: any valid token passes.
	default:
		return nil, fmt.Errorf("unknown requirement %d", req) // fails closed as Internal
	}
	if a.revocations != nil {
		revoked, err := a.revocations.Revoked(ctx, claims)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", wire.ErrUnavailable, err)
		}
		if revoked {
			return nil, wire.ErrRevoked
		}
	}
	return claims, nil
}

func (a *Authenticator) fresh(c *token.Claims) bool {
	now := a.clock.Now()
	if c.FreshAt(now) {
		return true
	}
	auth := c.AuthenticatedAt()
	return a.freshMaxAge > 0 && !auth.IsZero() && now.Sub(auth) < a.freshMaxAge
}

func (a *Authenticator) verify(ctx context.Context, raw string) (*token.Claims, error) {
	if a.cache == nil || len(raw) > token.MaxLength {
		return a.verifier.Verify(ctx, raw)
	}
	key := sha256.Sum256([]byte(raw))
	generation := a.keysGeneration()
	if claims, ok := a.cache.get(key, a.clock.Now(), generation); ok {
		return claims, nil
	}
	claims, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	a.cache.put(key, claims, a.clock.Now(), generation)
	return claims, nil
}

// keysGeneration is the verifier's KeysGeneration (token.Verifier has
// one), 0 when it cannot tell: the cache then relies on its age bound.
func (a *Authenticator) keysGeneration() uint64 {
	if g, ok := a.verifier.(interface{ KeysGeneration() uint64 }); ok {
		return g.KeysGeneration()
	}
	return 0
}

// The cancellation causes of a stream ended by its interceptor.
var (
	errStreamExpired = fmt.Errorf("stream closed: %w", token.ErrExpired)
	errStreamRevoked = fmt.Errorf("stream closed: %w", wire.ErrRevoked)
)

// serveGuarded runs handler with a context cancelled when the token
// expires or its session is found revoked (or can no longer be checked:
// fail closed). From then on the stream's Send and Recv fail, and whatever
// the handler returns is replaced by the refusal.
func (a *Authenticator) serveGuarded(ctx context.Context, srv any, ss grpc.ServerStream, claims *token.Claims, watchRevocation bool, handler grpc.StreamHandler) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	exp := claims.Expiry()
	if !a.streamExpiry {
		exp = time.Time{}
	} else {
		stop := a.clock.AfterFunc(exp.Sub(a.clock.Now()), func() { cancel(errStreamExpired) })
		defer stop()
	}
	if watchRevocation {
		w := &revocationWatch{a: a, ctx: ctx, claims: claims, cancel: cancel}
		w.schedule()
		defer w.stop()
	}
	err := handler(srv, &guardedStream{wrappedStream: wrappedStream{ServerStream: ss, ctx: ctx}, clock: a.clock, exp: exp})
	if refusal := streamRefusal(ctx); refusal != nil {
		return refusal
	}
	return err
}

// streamRefusal is the status a stream ended by its interceptor gets, or
// nil while it may go on.
func streamRefusal(ctx context.Context) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, errStreamExpired) || errors.Is(cause, errStreamRevoked) || errors.Is(cause, wire.ErrUnavailable) {
		return wire.StatusError(cause)
	}
	return nil
}

// revocationWatch asks the checker about an open stream's session every
// recheck interval, and cancels the stream when it is revoked.
type revocationWatch struct {
	a      *Authenticator
	ctx    context.Context
	claims *token.Claims
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	stopped bool
	timer   func() bool
}

func (w *revocationWatch) schedule() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.timer = w.a.clock.AfterFunc(w.a.recheck, w.check)
	}
}

func (w *revocationWatch) check() {
	if w.ctx.Err() != nil {
		return
	}
	revoked, err := w.a.revocations.Revoked(w.ctx, w.claims)
	switch {
	case err != nil:
		w.cancel(fmt.Errorf("%w: %w", wire.ErrUnavailable, err))
	case revoked:
		w.cancel(errStreamRevoked)
	default:
		w.schedule()
	}
}

func (w *revocationWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer()
	}
}

// wrappedStream gives a stream the authenticated context.
type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }

// guardedStream refuses to send or receive once the token has expired or
// the stream was ended. It reads the clock itself rather than wait for the
// timer's goroutine, so not one message passes at or after exp.
type guardedStream struct {
	wrappedStream
	clock clock.Clock
	exp   time.Time // zero: expiry not enforced
}

func (s *guardedStream) ended() error {
	if !s.exp.IsZero() && !s.clock.Now().Before(s.exp) {
		return wire.StatusError(token.ErrExpired)
	}
	return streamRefusal(s.ctx)
}

func (s *guardedStream) SendMsg(m any) error {
	if err := s.ended(); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ended(); err != nil {
		return err
	}
	return s.ServerStream.RecvMsg(m)
}
