package guard

import (
	"context"
	"net/http"
	"time"

	"github.com/authd-dev/authd/internal/flight"
	"github.com/authd-dev/authd/internal/ttlcache"
	"github.com/authd-dev/authd/token"
)

// Renewer issues a renewed access token for a verified access token: not
// fresh, same subject and session, never past the session's cap. It returns
// an error when it will not (revoked session, no session, session at its
// cap), and the call then proceeds without a renewal.
type Renewer interface {
	RenewAccess(ctx context.Context, raw string, claims *token.Claims) (string, error)
}

// RenewerFunc adapts a function to Renewer.
type RenewerFunc func(ctx context.Context, raw string, claims *token.Claims) (string, error)

// RenewAccess calls f.
func (f RenewerFunc) RenewAccess(ctx context.Context, raw string, claims *token.Claims) (string, error) {
	return f(ctx, raw, claims)
}

// Renewal returns a renewed access token to hand back with the call d
// allowed (the adapter sends it in wire.RenewalHeader), or "" when there is
// none: no Renewer, a token not yet past the threshold, a refresh token, a
// FRESH_ACCESS call, a token without a session, a token bound to a key
// (its renewal would need the client's proof, or be a bearer token), a
// refused renewal. Renewal is best effort and never fails the call.
func (g *Guard) Renewal(ctx context.Context, d Decision) string {
	if g.renewals == nil || d.Claims == nil || d.requirement == FreshAccess || d.requirement == Refresh ||
		d.jkt != "" {
		return ""
	}
	now := g.clock.Now()
	if !g.renewals.due(d.Claims, now) {
		return ""
	}
	return g.renewals.token(ctx, d.token, d.Claims, now)
}

// renewals remembers, per token, the renewal handed out (or refused), so
// the concurrent and following calls made with one old token cost one
// renewal, not one each.
type renewals struct {
	renewer   Renewer
	threshold float64
	timeout   time.Duration
	flights   flight.Group[string]
	done      *ttlcache.Cache[string, string] // old token's jti -> renewed token, "" when refused
}

// maxRenewals bounds the remembered renewals.
const maxRenewals = 10000

// retryRefusedAfter is how long a refused renewal is remembered.
const retryRefusedAfter = 10 * time.Second

func newRenewals(r Renewer, threshold float64, timeout time.Duration) *renewals {
	if threshold <= 0 || threshold >= 1 {
		threshold = DefaultRenewalThreshold
	}
	if timeout <= 0 {
		timeout = DefaultRenewalTimeout
	}
	return &renewals{renewer: r, threshold: threshold, timeout: timeout, done: ttlcache.New[string, string](maxRenewals)}
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
// old token however many calls ask at the same time; each call waits at
// most until its own context ends.
func (r *renewals) token(ctx context.Context, raw string, c *token.Claims, now time.Time) string {
	if tok, ok := r.done.Get(c.ID, now); ok {
		return tok
	}
	tok, _ := r.flights.Do(ctx, c.ID, r.timeout, func(ctx context.Context) (string, error) {
		// A flight that ended between the lookup above and this one has
		// remembered its renewal: take it rather than renew again.
		if tok, ok := r.done.Get(c.ID, now); ok {
			return tok, nil
		}
		tok, err := r.renewer.RenewAccess(ctx, raw, c)
		until := c.Expiry()
		if err != nil || tok == "" {
			tok, until = "", earliest(until, now.Add(retryRefusedAfter))
		}
		r.done.Put(c.ID, tok, until, now)
		return tok, nil
	})
	return tok
}

// RenewalCookie is the access cookie (Config.Cookies) that carries tok, a
// renewal handed out for a call authenticated by cookie, with a Max-Age
// of tok's remaining life. tok is verified to read its exp, which also
// puts it in the cache for the calls that follow. nil without
// Config.Cookies or when tok does not verify.
func (g *Guard) RenewalCookie(ctx context.Context, tok string) *http.Cookie {
	if g.cookies == nil || tok == "" {
		return nil
	}
	claims, err := g.verify(ctx, tok)
	if err != nil {
		return nil
	}
	return g.cookies.AccessCookie(tok, claims.Expiry().Sub(g.clock.Now()))
}
