package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/authd-dev/authd/token"
)

// Errors of authentication and of authd's service; token.ErrInvalid,
// token.ErrExpired and token.ErrKeysUnavailable come from verification.
var (
	ErrMissing         = errors.New("missing authorization metadata")
	ErrAccessRequired  = errors.New("only access tokens are allowed")
	ErrRefreshRequired = errors.New("only refresh tokens are allowed")
	ErrFreshRequired   = errors.New("fresh token required")
	ErrRevoked         = errors.New("token has been revoked")
	// ErrUnavailable: a check could not be made (revocation list stale,
	// store down). Authentication fails closed.
	ErrUnavailable = errors.New("authentication backend unavailable")
	// ErrInvalidCredentials is one error for an unknown user, a wrong
	// password and a disabled account, so a caller cannot tell them apart.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrSessionCap: the session is at its absolute cap; only a new login
	// helps.
	ErrSessionCap = errors.New("session has reached its maximum age")
	// ErrBusy: no password-hashing slot came free in time.
	ErrBusy = errors.New("too many concurrent logins")
	// ErrNotFound and ErrExists: an administrative call named an account
	// or session that does not exist, or one that already does.
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Authorization errors: the caller is authenticated, but its token lacks
// what the method requires. A *PermissionError wraps one of them.
var (
	ErrInsufficientRole  = errors.New("insufficient role")
	ErrInsufficientScope = errors.New("insufficient scope")
)

// PermissionError refuses an authenticated caller: PermissionDenied, never
// Unauthenticated, since a new token for the same subject would not help.
type PermissionError struct {
	// Err is ErrInsufficientRole (Required: any one of these roles) or
	// ErrInsufficientScope (Required: every one of these scopes).
	Err      error
	Required []string
}

func (e *PermissionError) Error() string {
	if errors.Is(e.Err, ErrInsufficientRole) {
		return fmt.Sprintf("%v: one of [%s] required", e.Err, strings.Join(e.Required, " "))
	}
	return fmt.Sprintf("%v: [%s] required", e.Err, strings.Join(e.Required, " "))
}

func (e *PermissionError) Unwrap() error { return e.Err }

func (e *PermissionError) status() error {
	reason, key := ReasonInsufficientScope, MetadataRequiredScopes
	if errors.Is(e.Err, ErrInsufficientRole) {
		reason, key = ReasonInsufficientRole, MetadataRequiredRoles
	}
	st, err := status.New(codes.PermissionDenied, e.Error()).WithDetails(&errdetails.ErrorInfo{
		Domain: Domain, Reason: reason, Metadata: map[string]string{key: strings.Join(e.Required, " ")},
	})
	if err != nil {
		return status.Error(codes.PermissionDenied, e.Error())
	}
	return st.Err()
}

// ThrottledError refuses a login attempt unchecked: the next one is checked
// after Wait.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string { return fmt.Sprintf("login throttled for %s", e.Wait) }

// Errorf returns an error that is kind (for errors.Is, and so for
// StatusError's code) and reads as the formatted message, which the caller
// sees: for ErrNotFound and ErrExists, whose callers want to know what.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() error { return e.kind }

// InvalidArgumentError is a request field the service refuses.
type InvalidArgumentError struct{ Msg string }

func (e *InvalidArgumentError) Error() string { return e.Msg }

// InvalidArgument returns an *InvalidArgumentError with a formatted message.
func InvalidArgument(format string, args ...any) error {
	return &InvalidArgumentError{Msg: fmt.Sprintf(format, args...)}
}

// refusal is one row of the error table, its status built once.
type refusal struct {
	err    error
	status *status.Status
}

// refusals is the error table of docs/design.md. Order matters: more
// specific errors first.
var refusals = []refusal{
	{ErrMissing, newStatus(codes.Unauthenticated, ReasonTokenMissing, "missing authorization metadata")},
	{token.ErrExpired, newStatus(codes.Unauthenticated, ReasonTokenExpired, "Token has expired")},
	{token.ErrInvalid, newStatus(codes.Unauthenticated, ReasonTokenInvalid, "token is invalid")},
	{ErrAccessRequired, newStatus(codes.Unauthenticated, ReasonWrongTokenType, "only access tokens are allowed")},
	{ErrRefreshRequired, newStatus(codes.Unauthenticated, ReasonWrongTokenType, "only refresh tokens are allowed")},
	{ErrFreshRequired, newStatus(codes.Unauthenticated, ReasonFreshTokenRequired, "Fresh token required")},
	{ErrRevoked, newStatus(codes.Unauthenticated, ReasonTokenRevoked, "Token has been revoked")},
	{ErrInvalidCredentials, newStatus(codes.Unauthenticated, ReasonInvalidCredentials, ErrInvalidCredentials.Error())},
	{ErrSessionCap, newStatus(codes.FailedPrecondition, ReasonSessionCapReached, "session has reached its maximum age; log in again")},
	{ErrBusy, newStatus(codes.ResourceExhausted, "", "too many concurrent logins, retry later")},
	{ErrUnavailable, newStatus(codes.Unavailable, "", "authentication backend unavailable")},
	{token.ErrKeysUnavailable, newStatus(codes.Unavailable, "", "authentication backend unavailable")},
}

// newStatus builds a status carrying ErrorInfo{domain: "authd", reason}
// (no detail when reason is "").
func newStatus(code codes.Code, reason, msg string) *status.Status {
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

// StatusError converts an error of authd's into the gRPC error callers see.
// Statuses pass through; the sentinels above and token's become their row
// of the error table; ErrNotFound and ErrExists are NotFound and
// AlreadyExists with the error's text (see Errorf); a *PermissionError is PermissionDenied with the
// required roles or scopes in the ErrorInfo metadata; a *ThrottledError is
// ResourceExhausted with a RetryInfo; an *InvalidArgumentError is InvalidArgument; context errors
// keep their codes. Anything else is Internal, with no detail leaked.
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
	var throttled *ThrottledError
	var invalid *InvalidArgumentError
	var denied *PermissionError
	switch {
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.As(err, &denied):
		return denied.status()
	case errors.As(err, &throttled):
		return throttledStatus(throttled.Wait)
	case errors.As(err, &invalid):
		return status.Error(codes.InvalidArgument, invalid.Msg)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "internal error")
}

// Known reports whether StatusError maps err to something other than
// Internal: whether err is one of the errors of the table.
func Known(err error) bool {
	return status.Code(StatusError(err)) != codes.Internal
}

// throttledStatus is RESOURCE_EXHAUSTED with a RetryInfo saying when to
// come back (rounded up to the second).
func throttledStatus(wait time.Duration) error {
	wait = (wait + time.Second - 1).Truncate(time.Second)
	st, err := status.New(codes.ResourceExhausted, fmt.Sprintf("too many failed logins; retry in %s", wait)).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many failed logins")
	}
	return st.Err()
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
