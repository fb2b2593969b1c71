package wire

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Error is a refusal as a caller sees it: a code, the ErrorInfo reason it
// branches on, and a message. Each domain declares its own refusals as
// *Error values (token.ErrExpired, guard.ErrRevoked, accounts.ErrThrottled,
// …), so that the row of the error table lives beside the error; the edge
// converts them with StatusError, whatever wraps them.
//
// errors.Is matches an *Error by identity, and a copy made with Detail
// also matches the error it details.
type Error struct {
	// Code is the gRPC code (connect's codes have the same numbers).
	Code codes.Code
	// Reason is the google.rpc.ErrorInfo reason, in domain Domain; "" for
	// a refusal that carries no ErrorInfo (callers branch on the code).
	Reason string
	// Message is what the caller reads.
	Message string
	// Metadata is the ErrorInfo metadata (with a Reason only).
	Metadata map[string]string
	// RetryDelay, when positive, is sent as a google.rpc.RetryInfo.
	RetryDelay time.Duration

	of     *Error      // the error this one details, for errors.Is
	status *lazyStatus // built once: refusals are sent often, under attack above all
}

type lazyStatus struct {
	once sync.Once
	st   *status.Status
}

// NewError returns a refusal with code, reason ("" for none) and message.
func NewError(code codes.Code, reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message, status: &lazyStatus{}}
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the error e details, if any.
func (e *Error) Unwrap() error {
	if e.of == nil {
		return nil
	}
	return e.of
}

// Detail returns a copy of e with another message, ErrorInfo metadata and
// retry delay, which errors.Is still matches to e.
func (e *Error) Detail(message string, metadata map[string]string, retry time.Duration) *Error {
	d := *e
	d.Message, d.Metadata, d.RetryDelay, d.of, d.status = message, maps.Clone(metadata), retry, e, &lazyStatus{}
	return &d
}

// InvalidArgument is a request field a server refuses, saying what is
// wrong with it.
func InvalidArgument(format string, args ...any) *Error {
	return NewError(codes.InvalidArgument, "", fmt.Sprintf(format, args...))
}

// Status returns the gRPC status of e: its code and message, with an
// ErrorInfo{domain: Domain, reason, metadata} when it has a reason and a
// RetryInfo when it has a retry delay (rounded up to the second).
func (e *Error) Status() *status.Status {
	if e.status == nil {
		return e.build()
	}
	e.status.once.Do(func() { e.status.st = e.build() })
	return e.status.st
}

func (e *Error) build() *status.Status {
	st := status.New(e.Code, e.Message)
	var details []protoadapt.MessageV1
	if e.Reason != "" {
		details = append(details, &errdetails.ErrorInfo{Domain: Domain, Reason: e.Reason, Metadata: e.Metadata})
	}
	if e.RetryDelay > 0 {
		wait := (e.RetryDelay + time.Second - 1).Truncate(time.Second)
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(wait)})
	}
	if len(details) == 0 {
		return st
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st // ErrorInfo and RetryInfo always marshal
	}
	return withDetails
}

// StatusError converts an error into the gRPC error a caller sees: the
// *Error it wraps (its own message, never the text wrapped around it), a
// status it already is, a context error's code; anything else is Internal,
// with no detail leaked. It is the one mapping to gRPC status; servers
// call it at the edge.
func StatusError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status().Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, "internal error")
}

// Known reports whether StatusError maps err to something other than
// Internal: whether err is a refusal of the error table.
func Known(err error) bool {
	return status.Code(StatusError(err)) != codes.Internal
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
