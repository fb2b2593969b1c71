package guard

import (
	"context"

	"github.com/authd-dev/authd/token"
)

type claimsKey struct{}

// cookieKey marks the context of a call authenticated by cookie.
type cookieKey struct{}

// jktKey carries the thumbprint of the key a call proved (Decision.KeyThumbprint).
type jktKey struct{}

// ClaimsFromContext returns the verified claims of the call's token, or
// false when the method is public or optional and no token was sent. The
// claims are shared with other calls presenting the same token: read,
// never modify.
func ClaimsFromContext(ctx context.Context) (*token.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*token.Claims)
	return c, ok
}

// ContextWithClaims returns ctx carrying claims, as the adapters do after
// a Decide; tests of handlers that read ClaimsFromContext use it too.
func ContextWithClaims(ctx context.Context, claims *token.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, claims)
}

// ContextWithDecision returns ctx carrying d's claims, whether its call
// was authenticated by cookie (FromCookie) and the key it proved
// (KeyThumbprintFromContext), as the adapters do.
func ContextWithDecision(ctx context.Context, d Decision) context.Context {
	ctx = ContextWithClaims(ctx, d.Claims)
	if d.fromCookie {
		ctx = context.WithValue(ctx, cookieKey{}, true)
	}
	if d.jkt != "" {
		ctx = context.WithValue(ctx, jktKey{}, d.jkt)
	}
	return ctx
}

// KeyThumbprintFromContext returns the Decision.KeyThumbprint of the call
// in ctx: the thumbprint of the key its token is bound to and its DPoP
// proof proved, "" when there is none.
func KeyThumbprintFromContext(ctx context.Context) string {
	v, _ := ctx.Value(jktKey{}).(string)
	return v
}

// FromCookie reports whether the call in ctx was authenticated by a
// browser session's cookie rather than an authorization header: its
// handler answers with cookies, never tokens in the body.
func FromCookie(ctx context.Context) bool {
	v, _ := ctx.Value(cookieKey{}).(bool)
	return v
}
