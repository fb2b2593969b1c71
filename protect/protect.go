package protect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/dpop"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Config is how a service checks authd's tokens. Its zero value is the
// safe setup: tokens of issuer and audience "authd", revoked sessions
// polled every 5 s, no renewal.
type Config struct {
	// Guard holds the service's rules and the per-call settings (Methods,
	// Services, Default, FreshMaxAge, RenewalThreshold, Clock, …). New
	// sets its Revocations and Renewer from the fields below, makes
	// health and reflection public, and, unless Guard.DPoP is set, accepts
	// tokens bound to a key (DPoP) with a verifier of its own (a 60 s
	// window, no nonces; set Guard.DPoP for nonces or a PublicAuthority
	// behind a proxy).
	Guard guard.Config

	// Issuer and Audience are the iss and aud the tokens must carry
	// (default "authd", authd's --issuer and --audience).
	Issuer, Audience string
	// Leeway allows clock skew between authd and this service when
	// checking exp, nbf and iat (at most token.MaxLeeway).
	Leeway time.Duration
	// AcceptUntypedTokens also accepts tokens typed JWT or untyped, as
	// authd minted them before it typed its tokens at+jwt and
	// refresh+jwt (token.WithUntypedTokens): set it while authd is being
	// upgraded, and for the session cap after, then drop it.
	AcceptUntypedTokens bool
	// SessionMax refuses tokens whose exp is further away: set it to
	// authd's --session-max (0: token.DefaultMaxLifetime, 168 h), so that a
	// token minted with a stolen key cannot outlive any real session.
	SessionMax time.Duration

	// Revocation configures the poller of authd's revocation list (zero:
	// every 5 s; calls fail closed after a minute without a poll).
	Revocation revocation.Config
	// NoRevocationPolling turns revocation checks off: a logged-out
	// session's access tokens then work here until they expire. Only for
	// services whose calls a revoked session may still make.
	NoRevocationPolling bool
	// RevocationFeed, when set, is called once after the first poll with a
	// function that makes the poller poll at once; it hooks it to a
	// revocation feed so that logouts are heard of in milliseconds rather
	// than at the next poll:
	//
	//	RevocationFeed: func(ctx context.Context, nudge func()) error {
	//		return redisfeed.Subscribe(ctx, rdb, func(string) { nudge() })
	//	},
	//
	// An error from it fails New.
	RevocationFeed func(ctx context.Context, nudge func()) error

	// Renewal turns sliding sessions on: a call whose access token has
	// used more than Guard.RenewalThreshold of its life gets a renewed
	// token from authd's Renew in the x-access-token response header, which
	// package client adopts. Off by default: it makes a call to authd on
	// the request path and keeps a session's access tokens alive without a
	// refresh, which only services whose clients adopt the header want.
	Renewal bool

	// Logger hears of failed revocation polls (nil: slog.Default()).
	Logger *slog.Logger
}

// New returns the Guard of a service that verifies the tokens of the
// authd behind authdConn. Before returning it fetches authd's keys and its
// revocation list once, so that a service that cannot reach authd fails
// at start rather than at its first call; then it polls the revocation
// list until ctx ends.
//
// The Guard makes gRPC health and reflection public, applies every
// method's (auth.v1.requirement) and (auth.v1.rule), and refuses tokens of
// sessions authd has revoked or does not know. Apply it with package
// interceptors.
func New(ctx context.Context, authdConn grpc.ClientConnInterface, cfg Config) (*guard.Guard, error) {
	if cfg.Revocation.Interval < 0 {
		return nil, errors.New("protect: the revocation poll interval must be positive (NoRevocationPolling turns polling off)")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	gcfg := cfg.Guard
	keys := jwks.New(jwks.GRPC(authdConn), jwks.Config{Clock: gcfg.Clock})
	if err := keys.Refresh(ctx); err != nil {
		return nil, fmt.Errorf("protect: fetch authd's keys: %w", err)
	}
	verifier, err := token.NewVerifier(keys, verifierOptions(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("protect: %w", err)
	}
	gcfg.PublicHealthAndReflection = true
	if !cfg.NoRevocationPolling {
		rcfg := cfg.Revocation
		if rcfg.Clock == nil {
			rcfg.Clock = gcfg.Clock
		}
		poller := revocation.NewPoller(authdConn, rcfg)
		if err := poller.Poll(ctx); err != nil {
			return nil, fmt.Errorf("protect: fetch authd's revocations: %w", err)
		}
		if cfg.RevocationFeed != nil {
			if err := cfg.RevocationFeed(ctx, poller.Nudge); err != nil {
				return nil, fmt.Errorf("protect: revocation feed: %w", err)
			}
		}
		go poller.Run(ctx, func(err error) {
			logger.WarnContext(ctx, "revocation poll failed; protected calls fail closed once the last poll is too old", "err", err)
		})
		gcfg.Revocations = poller
	}
	if cfg.Renewal {
		gcfg.Renewer = RemoteRenewer(authdConn)
	}
	if gcfg.DPoP == nil {
		// Tokens bound to a key are accepted with their proofs: without a
		// verifier they would be refused outright.
		gcfg.DPoP = dpop.NewVerifier(dpop.Config{Clock: gcfg.Clock})
	}
	return guard.New(verifier, gcfg), nil
}

func verifierOptions(cfg Config) []token.VerifierOption {
	opts := []token.VerifierOption{token.WithLeeway(cfg.Leeway)}
	if cfg.Issuer != "" {
		opts = append(opts, token.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, token.WithAudience(cfg.Audience))
	}
	if cfg.SessionMax > 0 {
		opts = append(opts, token.WithMaxLifetime(cfg.SessionMax))
	}
	if cfg.AcceptUntypedTokens {
		opts = append(opts, token.WithUntypedTokens())
	}
	if cfg.Guard.Clock != nil {
		opts = append(opts, token.WithClock(cfg.Guard.Clock))
	}
	return opts
}

// RemoteRenewer renews through AuthService.Renew over conn: the
// guard.Renewer of a service that verifies with authd's JWKS and holds no
// signing key (Config.Renewal sets it up).
func RemoteRenewer(conn grpc.ClientConnInterface) guard.Renewer {
	client := authv1.NewAuthServiceClient(conn)
	return guard.RenewerFunc(func(ctx context.Context, raw string, _ *token.Claims) (string, error) {
		// The caller's token goes to authd, and nothing else of its metadata.
		ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(wire.AuthorizationKey, "Bearer "+raw))
		resp, err := client.Renew(ctx, &authv1.RenewRequest{})
		if err != nil {
			return "", err
		}
		return resp.GetAccessToken(), nil
	})
}
