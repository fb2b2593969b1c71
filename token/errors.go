package token

import (
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/wire"
)

// Refusals of Verify. Every failure wraps exactly one of ErrInvalid,
// ErrExpired and ErrKeysUnavailable, so callers can tell them apart with
// errors.Is and the edge can send them with wire.StatusError; the more
// specific ones below wrap ErrInvalid.
var (
	// ErrInvalid: the token is not one authd accepts (format, signature,
	// algorithm, key, issuer, audience, nbf, iat, size, claims).
	ErrInvalid = wire.NewError(codes.Unauthenticated, wire.ReasonTokenInvalid, "token is invalid")
	// ErrExpired: the token was valid but its exp has passed.
	ErrExpired = wire.NewError(codes.Unauthenticated, wire.ReasonTokenExpired, "Token has expired")
	// ErrKeysUnavailable: no key could be had to check the token (a remote
	// key set that was never fetched). Nothing is known about the token:
	// the call fails closed.
	ErrKeysUnavailable = wire.NewError(codes.Unavailable, "", "authentication backend unavailable")

	// ErrTooLarge: the token is over MaxLength; it was not parsed.
	ErrTooLarge = fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	// ErrUnknownKey: the token's kid names no known key.
	ErrUnknownKey = fmt.Errorf("%w: unknown key id", ErrInvalid)
	// ErrForbiddenHeader: the token's header has a parameter authd refuses
	// (crit, jku, jwk, x5u, x5c, b64) or a wrong typ.
	ErrForbiddenHeader = fmt.Errorf("%w: forbidden header parameter", ErrInvalid)
)
