package interceptors

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/token"
)

// Domain is the ErrorInfo domain of every refusal.
const Domain = "authd"

// The ErrorInfo reasons a caller can see (DESIGN.md, "Errors").
const (
	ReasonTokenMissing       = "TOKEN_MISSING"
	ReasonTokenInvalid       = "TOKEN_INVALID"
	ReasonTokenExpired       = "TOKEN_EXPIRED"
	ReasonWrongTokenType     = "WRONG_TOKEN_TYPE"
	ReasonFreshTokenRequired = "FRESH_TOKEN_REQUIRED"
	ReasonTokenRevoked       = "TOKEN_REVOKED"
)

// Errors of the interceptor itself; token.ErrInvalid and token.ErrExpired
// come from verification.
var (
	ErrMissing         = errors.New("missing authorization metadata")
	ErrAccessRequired  = errors.New("only access tokens are allowed")
	ErrRefreshRequired = errors.New("only refresh tokens are allowed")
	ErrFreshRequired   = errors.New("fresh token required")
	ErrRevoked         = errors.New("token has been revoked")
	// ErrUnavailable: the revocation check could not be made. Authentication
	// fails closed.
	ErrUnavailable = errors.New("authentication backend unavailable")
)

// refusal is one row of the error table, its status built once.
type refusal struct {
	err    error
	status *status.Status
}

func newRefusal(err error, code codes.Code, reason, msg string) refusal {
	return refusal{err: err, status: NewStatus(code, reason, msg)}
}

// NewStatus builds a status carrying ErrorInfo{domain: "authd", reason}
// (no detail when reason is ""), for errors of authd's own services.
func NewStatus(code codes.Code, reason, msg string) *status.Status {
	st := status.New(code, msg)
	if reason == "" {
		return st
	}
	st, err := st.WithDetails(&errdetails.ErrorInfo{Domain: Domain, Reason: reason})
	if err != nil {
		panic(err) // ErrorInfo always marshals.
	}
	return st
}

// refusals is the one place where authentication errors become gRPC
// statuses. Order matters: more specific errors first.
var refusals = []refusal{
	newRefusal(ErrMissing, codes.Unauthenticated, ReasonTokenMissing, "missing authorization metadata"),
	newRefusal(token.ErrExpired, codes.Unauthenticated, ReasonTokenExpired, "Token has expired"),
	newRefusal(token.ErrInvalid, codes.Unauthenticated, ReasonTokenInvalid, "token is invalid"),
	newRefusal(ErrAccessRequired, codes.Unauthenticated, ReasonWrongTokenType, "only access tokens are allowed"),
	newRefusal(ErrRefreshRequired, codes.Unauthenticated, ReasonWrongTokenType, "only refresh tokens are allowed"),
	newRefusal(ErrFreshRequired, codes.Unauthenticated, ReasonFreshTokenRequired, "Fresh token required"),
	newRefusal(ErrRevoked, codes.Unauthenticated, ReasonTokenRevoked, "Token has been revoked"),
	newRefusal(ErrUnavailable, codes.Unavailable, "", "authentication backend unavailable"),
	newRefusal(token.ErrKeysUnavailable, codes.Unavailable, "", "authentication backend unavailable"),
}

// StatusError converts an authentication error into the gRPC error callers
// see: Unauthenticated with an ErrorInfo{domain: "authd", reason} detail, or
// Unavailable when the check could not be made. Context errors keep their
// codes; anything else is Internal (fail closed, no detail leaked).
func StatusError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, r := range refusals {
		if errors.Is(err, r.err) {
			return r.status.Err()
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "internal error")
}

// Reason returns the ErrorInfo reason of an error returned by a call, or ""
// when it carries none from authd.
func Reason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info.GetReason()
		}
	}
	return ""
}
