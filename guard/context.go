package guard

import (
	"context"

	"github.com/authd-dev/authd/token"
)

type claimsKey struct{}

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
