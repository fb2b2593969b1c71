package service

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/password"
)

// ReasonInvalidCredentials is the ErrorInfo reason of a failed login.
const ReasonInvalidCredentials = "INVALID_CREDENTIALS"

// errInvalidCredentials is one error for an unknown user, a wrong password
// and a disabled account, so a caller cannot tell them apart.
var errInvalidCredentials = errors.New("invalid username or password")

var invalidCredentials = interceptors.NewStatus(codes.Unauthenticated, ReasonInvalidCredentials, errInvalidCredentials.Error())

// ReasonSessionCapReached is the ErrorInfo reason of a Renew refused because
// the session is at its absolute cap.
const ReasonSessionCapReached = "SESSION_CAP_REACHED"

var sessionCapReached = interceptors.NewStatus(codes.FailedPrecondition, ReasonSessionCapReached,
	"session has reached its maximum age; log in again")

// statusError maps the service's errors to gRPC statuses, deferring to
// interceptors.StatusError for token errors. Store and other unexpected
// failures fail closed as Unavailable, with the cause logged, not sent.
func (s *Service) statusError(ctx context.Context, op string, err error) error {
	var throttled errThrottled
	switch {
	case err == nil:
		return nil
	case errors.As(err, &throttled):
		return throttled.status()
	case errors.Is(err, errInvalidCredentials):
		return invalidCredentials.Err()
	case errors.Is(err, ErrSessionCap):
		return sessionCapReached.Err()
	case errors.Is(err, password.ErrBusy):
		return status.Error(codes.ResourceExhausted, "too many concurrent logins, retry later")
	case errors.Is(err, password.ErrTooLong):
		return invalidArgument("password is longer than %d bytes", password.MaxLength)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	if st := interceptors.StatusError(err); status.Code(st) != codes.Internal {
		return st
	}
	s.cfg.logger.ErrorContext(ctx, "request failed", "op", op, "err", err)
	return status.Error(codes.Unavailable, "authentication backend unavailable")
}

func invalidArgument(format string, args ...any) error {
	return status.Error(codes.InvalidArgument, fmt.Sprintf(format, args...))
}
