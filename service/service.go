package service

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// JWKSource lists the public keys to publish; nil in HS256 mode.
type JWKSource interface {
	JWKS() []token.JWK
}

// Config is what the service adapts and how it reports.
type Config struct {
	// Sessions opens, rotates, renews and revokes sessions.
	Sessions *session.Engine
	// Accounts authenticates and changes accounts.
	Accounts *accounts.Manager
	// Guard is the Guard that protects the server the service is
	// registered on: Verify and Logout answer with it, so that they can
	// never disagree with the interceptor.
	Guard *guard.Guard
	// JWKS is published by GetJWKS (nil in HS256 mode: no keys).
	JWKS JWKSource
	// TrustedProxies are the proxies whose forwarding metadata names the
	// client whose login attempts are counted.
	TrustedProxies []netip.Prefix
	// Metrics counts logins, refreshes, reuse and revocations (nil: none).
	Metrics *Metrics
	// Logger gets the service's lines: logins, logouts, administrative
	// changes, failures (nil: slog.Default()). Never a secret.
	Logger *slog.Logger
	// Clock is the time Verify tells freshness at (nil: the system clock).
	Clock clock.Clock
}

// Service implements auth.v1.AuthService and auth.v1.AdminService over the
// session engine and the accounts: it checks requests, calls them, and
// maps their answers and errors to the wire. It holds no policy of its
// own. Register it on a server protected by cfg.Guard.
type Service struct {
	authv1.UnimplementedAuthServiceServer

	sessions *session.Engine
	accounts *accounts.Manager
	guard    *guard.Guard
	cfg      Config
	bounds   *publicBounds // of the server NewServer built, for NewConnectHandler
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Every line the service logs for a call carries its request id.
	cfg.Logger = withRequestIDs(cfg.Logger)
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	return &Service{sessions: cfg.Sessions, accounts: cfg.Accounts, guard: cfg.Guard, cfg: cfg}
}

// Register registers AuthService and AdminService on srv.
func (s *Service) Register(srv grpc.ServiceRegistrar) {
	authv1.RegisterAuthServiceServer(srv, s)
	authv1.RegisterAdminServiceServer(srv, admin{s: s})
}

// statusError converts the service's errors with wire.StatusError, the one
// error table. What the table does not know is a store or other backend
// failure: it fails closed as Unavailable, with the cause logged, not sent.
func (s *Service) statusError(ctx context.Context, op string, err error) error {
	if err != nil && !wire.Known(err) {
		s.cfg.Logger.ErrorContext(ctx, "request failed", "op", op, "err", err)
		err = guard.ErrUnavailable
	}
	return wire.StatusError(err)
}

func invalidArgument(format string, args ...any) error {
	return wire.StatusError(wire.InvalidArgument(format, args...))
}

// GetJWKS implements authv1.AuthServiceServer.
func (s *Service) GetJWKS(context.Context, *authv1.GetJWKSRequest) (*authv1.GetJWKSResponse, error) {
	resp := &authv1.GetJWKSResponse{}
	if s.cfg.JWKS == nil {
		return resp, nil
	}
	for _, k := range s.cfg.JWKS.JWKS() {
		resp.Keys = append(resp.Keys, &authv1.JWK{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
	}
	return resp, nil
}

// Verify implements authv1.AuthServiceServer: it answers with exactly what a
// method demanding req.Requirement would (guard.Guard.DecideRule).
func (s *Service) Verify(ctx context.Context, req *authv1.VerifyRequest) (*authv1.VerifyResponse, error) {
	if _, known := authv1.Requirement_name[int32(req.GetRequirement())]; !known {
		return nil, invalidArgument("unknown requirement %d", req.GetRequirement())
	}
	call := interceptors.Call(ctx, authv1.AuthService_Verify_FullMethodName)
	if req.GetToken() != "" {
		call.Authorization = []string{"Bearer " + req.GetToken()}
	}
	d, err := s.guard.DecideRule(ctx, guard.Rule{Requirement: req.GetRequirement()}, call)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	claims := d.Claims
	if claims == nil {
		// A PUBLIC (or OPTIONAL) requirement accepts any call, but Verify
		// is asked about a token: check it as any type.
		if claims, err = s.guard.Authenticate(ctx, call); err != nil {
			return nil, wire.StatusError(err)
		}
	}
	return &authv1.VerifyResponse{Claims: &authv1.Claims{
		Subject:   claims.Subject,
		Type:      string(claims.Type),
		Fresh:     claims.FreshAt(s.cfg.Clock.Now()),
		Jti:       claims.ID,
		Sid:       claims.SessionID,
		IssuedAt:  unixOrZero(claims.IssuedTime()),
		ExpiresAt: unixOrZero(claims.Expiry()),
		AuthTime:  unixOrZero(claims.AuthenticatedAt()),
		Issuer:    claims.Issuer,
		Audience:  claims.Audience,
		Roles:     claims.Roles,
		Scopes:    claims.Scopes(),
		Amr:       claims.AMR,
		Acr:       claims.ACR,
	}}, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// seconds is d in whole seconds, as the wire's expires_in fields carry it.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// claims returns the claims the Guard put in ctx, or TOKEN_MISSING.
func claims(ctx context.Context) (*token.Claims, error) {
	c, ok := guard.ClaimsFromContext(ctx)
	if !ok {
		return nil, wire.StatusError(guard.ErrMissing)
	}
	return c, nil
}

func isThrottled(err error) bool { return errors.Is(err, accounts.ErrThrottled) }
