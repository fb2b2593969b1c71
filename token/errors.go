package token

import (
	"errors"
	"fmt"
)

// Errors returned by Verify. Every failure wraps exactly one of ErrInvalid,
// ErrExpired and ErrKeysUnavailable, so callers can map them with errors.Is;
// the more specific ones below wrap ErrInvalid.
var (
	// ErrInvalid: the token is not one authd accepts (format, signature,
	// algorithm, key, issuer, audience, nbf, iat, size, claims).
	ErrInvalid = errors.New("token is invalid")
	// ErrExpired: the token was valid but its exp has passed.
	ErrExpired = errors.New("token has expired")
	// ErrKeysUnavailable: no key could be had to check the token (a remote
	// key set that was never fetched). Nothing is known about the token.
	ErrKeysUnavailable = errors.New("verification keys unavailable")

	// ErrTooLarge: the token is over MaxLength; it was not parsed.
	ErrTooLarge = fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	// ErrUnknownKey: the token's kid names no known key.
	ErrUnknownKey = fmt.Errorf("%w: unknown key id", ErrInvalid)
	// ErrForbiddenHeader: the token's header has a parameter authd refuses
	// (crit, jku, jwk, x5u, x5c, b64) or a wrong typ.
	ErrForbiddenHeader = fmt.Errorf("%w: forbidden header parameter", ErrInvalid)
)
