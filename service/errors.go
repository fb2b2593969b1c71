package service

import (
	"context"
	"errors"

	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/wire"
)

// statusError converts the service's errors with wire.StatusError, the one
// error table. What the table does not know is a store or other backend
// failure: it fails closed as Unavailable, with the cause logged, not sent.
func (s *Service) statusError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, password.ErrBusy):
		err = wire.ErrBusy
	case errors.Is(err, password.ErrTooLong):
		err = wire.InvalidArgument("password is longer than %d bytes", password.MaxLength)
	}
	if err != nil && !wire.Known(err) {
		s.cfg.logger.ErrorContext(ctx, "request failed", "op", op, "err", err)
		err = wire.ErrUnavailable
	}
	return wire.StatusError(err)
}

func invalidArgument(format string, args ...any) error {
	return wire.StatusError(wire.InvalidArgument(format, args...))
}
