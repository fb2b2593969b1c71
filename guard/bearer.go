package guard

import (
	"fmt"
	"strings"

	"github.com/authd-dev/authd/wire"
)

// errNoToken: the call carries no token at all, which an OPTIONAL method
// accepts. Everything else that is not exactly one well-formed
// "Bearer <token>" (or "DPoP <token>") is ErrMissing.
var errNoToken = fmt.Errorf("%w: no token", ErrMissing)

// authorization returns the token of the call's single `authorization:
// Bearer <token>` value, or, when dpop is true (the Guard verifies proofs),
// `DPoP <token>`, saying which. The scheme is case-insensitive (RFC 7235);
// exactly one space separates it from the token, and the token carries no
// white space. Several values are refused rather than picking one, since
// proxies and clients disagree on which would win. Without dpop, the DPoP
// scheme is one this Guard does not know, as a server without RFC 9449
// would have it.
func authorization(values []string, dpop bool) (tok string, isDPoP bool, err error) {
	switch {
	case len(values) == 0, len(values) == 1 && values[0] == "":
		return "", false, errNoToken
	case len(values) > 1:
		return "", false, fmt.Errorf("%w: %d authorization values", ErrMissing, len(values))
	}
	scheme, tok, ok := strings.Cut(values[0], " ")
	switch {
	case !ok:
		return "", false, fmt.Errorf("%w: not a bearer token", ErrMissing)
	case strings.EqualFold(scheme, "Bearer"):
	case dpop && strings.EqualFold(scheme, wire.DPoPScheme):
		isDPoP = true
	default:
		return "", false, fmt.Errorf("%w: not a bearer token", ErrMissing)
	}
	if tok == "" || hasSpace(tok) {
		return "", false, fmt.Errorf("%w: malformed %s token", ErrMissing, scheme)
	}
	return tok, isDPoP, nil
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
