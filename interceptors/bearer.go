package interceptors

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/wire"
)

// errNoToken: the call carries no token at all, which an OPTIONAL method
// accepts. Everything else that is not exactly one well-formed
// "Bearer <token>" is ErrMissing.
var errNoToken = fmt.Errorf("%w: no token", wire.ErrMissing)

// BearerFromContext returns the token of the incoming call's single
// `authorization: Bearer <token>` value. The scheme is case-insensitive (RFC
// 7235); exactly one space separates it from the token, and the token
// carries no white space. Several values are refused rather than picking
// one, since proxies and clients disagree on which would win.
func BearerFromContext(ctx context.Context) (string, error) {
	// The one key, not a copy of all the metadata (FromIncomingContext
	// copies the map on every call).
	return parseBearer(metadata.ValueFromIncomingContext(ctx, wire.AuthorizationKey))
}

func parseBearer(values []string) (string, error) {
	switch {
	case len(values) == 0, len(values) == 1 && values[0] == "":
		return "", errNoToken
	case len(values) > 1:
		return "", fmt.Errorf("%w: %d authorization values", wire.ErrMissing, len(values))
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: not a bearer token", wire.ErrMissing)
	}
	if tok == "" || hasSpace(tok) {
		return "", fmt.Errorf("%w: malformed bearer token", wire.ErrMissing)
	}
	return tok, nil
}

// hasSpace reports whether tok holds a space, tab, CR or LF: four
// vectorised scans of a ~500-byte token instead of one byte-by-byte.
func hasSpace(tok string) bool {
	for _, c := range [...]byte{' ', '\t', '\r', '\n'} {
		if strings.IndexByte(tok, c) >= 0 {
			return true
		}
	}
	return false
}
