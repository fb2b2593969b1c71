package interceptors

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// DefaultRenewalThreshold: a token is renewed once it has used half its life.
const DefaultRenewalThreshold = 0.5

// Renewer issues a renewed access token for a verified access token: not
// fresh, same subject and session, never past the session's cap. It returns
// an error when it will not (revoked session, no session, session at its
// cap), and the call then proceeds without a renewal header.
type Renewer interface {
	RenewAccess(ctx context.Context, raw string, claims *token.Claims) (string, error)
}

// RenewerFunc adapts a function to Renewer.
type RenewerFunc func(ctx context.Context, raw string, claims *token.Claims) (string, error)

// RenewAccess calls f.
func (f RenewerFunc) RenewAccess(ctx context.Context, raw string, claims *token.Claims) (string, error) {
	return f(ctx, raw, claims)
}

// RemoteRenewer renews through AuthService.Renew over conn, for services that
// verify with authd's JWKS and hold no signing key.
func RemoteRenewer(conn grpc.ClientConnInterface) Renewer {
	client := authv1.NewAuthServiceClient(conn)
	return RenewerFunc(func(ctx context.Context, raw string, _ *token.Claims) (string, error) {
		// The caller's token goes to authd, and nothing else of its metadata.
		ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(wire.AuthorizationKey, "Bearer "+raw))
		resp, err := client.Renew(ctx, &authv1.RenewRequest{})
		if err != nil {
			return "", err
		}
		return resp.GetAccessToken(), nil
	})
}

// WithRenewal turns on sliding sessions: when an ACCESS or OPTIONAL call
// carries an access token that has used more than threshold of its
// lifetime (0 means DefaultRenewalThreshold), the response gets a renewed
// token from r in the x-access-token header. Tokens without a session (sid),
// refresh tokens and FRESH_ACCESS calls are never renewed.
func WithRenewal(r Renewer, threshold float64) Option {
	return func(c *config) {
		if threshold <= 0 || threshold >= 1 {
			threshold = DefaultRenewalThreshold
		}
		c.renewer, c.renewThreshold = r, threshold
	}
}

// renewals remembers, per token, the renewal handed out (or refused), so
// the concurrent and following calls made with one old token cost one
// renewal, not one each. Renewal is best effort: errors only omit the header.
type renewals struct {
	renewer   Renewer
	threshold float64
	timeout   time.Duration

	mu      sync.Mutex
	entries map[string]*renewal // by the old token's jti
}

type renewal struct {
	done  chan struct{}
	token string // "" when refused
	until time.Time
}

// maxRenewals bounds the remembered renewals; see prune.
const maxRenewals = 10000

// retryRefusedAfter is how long a refused renewal is remembered.
const retryRefusedAfter = 10 * time.Second

func newRenewals(r Renewer, threshold float64) *renewals {
	return &renewals{renewer: r, threshold: threshold, timeout: 5 * time.Second, entries: map[string]*renewal{}}
}

// due reports whether claims is past the renewal threshold at now.
func (r *renewals) due(c *token.Claims, now time.Time) bool {
	if c.Type != token.Access || c.SessionID == "" || c.ID == "" {
		return false
	}
	iat, exp := c.IssuedTime(), c.Expiry()
	if iat.IsZero() || !exp.After(iat) {
		return false
	}
	life := exp.Sub(iat)
	return now.Sub(iat) > time.Duration(float64(life)*r.threshold)
}

// token returns the renewed token for the call's token, renewing once per
// old token however many calls ask at the same time.
func (r *renewals) token(ctx context.Context, raw string, c *token.Claims, now time.Time) string {
	r.mu.Lock()
	e, ok := r.entries[c.ID]
	if ok && !now.Before(e.until) {
		ok = false
	}
	if !ok {
		r.prune(now)
		e = &renewal{done: make(chan struct{}), until: c.Expiry()}
		r.entries[c.ID] = e
		r.mu.Unlock()
		r.renew(ctx, raw, c, e, now)
	} else {
		r.mu.Unlock()
	}
	select {
	case <-e.done:
		return e.token
	case <-ctx.Done():
		return ""
	}
}

func (r *renewals) renew(ctx context.Context, raw string, c *token.Claims, e *renewal, now time.Time) {
	defer close(e.done)
	// Other calls may be waiting on this one: do not let its cancellation
	// decide for them, but bound the renewal itself.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	tok, err := r.renewer.RenewAccess(ctx, raw, c)
	if err != nil || tok == "" {
		if refused := now.Add(retryRefusedAfter); refused.Before(e.until) {
			e.until = refused
		}
		return
	}
	e.token = tok
}

// prune drops finished entries past their time and, when still full, all
// finished entries. Called with r.mu held.
func (r *renewals) prune(now time.Time) {
	if len(r.entries) < maxRenewals {
		return
	}
	for k, e := range r.entries {
		if finished(e) && !now.Before(e.until) {
			delete(r.entries, k)
		}
	}
	if len(r.entries) < maxRenewals {
		return
	}
	for k, e := range r.entries {
		if finished(e) {
			delete(r.entries, k)
		}
	}
}

func finished(e *renewal) bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// renew sets the renewal header on the call in ctx when its token is due.
func (a *Authenticator) renew(ctx context.Context, req Requirement, raw string, c *token.Claims) {
	if a.renewals == nil || req == FreshAccess || req == Refresh {
		return
	}
	now := a.clock.Now()
	if !a.renewals.due(c, now) {
		return
	}
	if tok := a.renewals.token(ctx, raw, c, now); tok != "" {
		// Fails only outside a gRPC call (Authorize used directly) or after
		// the headers went out; either way there is nobody to tell.
		_ = grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, tok))
	}
}
