package connectauth

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/authd-dev/authd/wire"
)

// Error converts err into the connect error a caller sees: the status
// wire.StatusError makes of it for gRPC, code, message and details, so
// that a caller hears the same whether the service runs grpc-go or
// connect-go, over any protocol. A refusal (a *wire.Error, whatever wraps
// it) carries its google.rpc.ErrorInfo{domain "authd", reason, metadata}
// and any google.rpc.RetryInfo as error details; a context error is
// Canceled or DeadlineExceeded; a *connect.Error is returned as it is; and
// anything else is CodeInternal "internal error", with no detail leaked.
// Error(nil) is nil.
func Error(err error) *connect.Error {
	if err == nil {
		return nil
	}
	var w *wire.Error
	var c *connect.Error
	if !errors.As(err, &w) && errors.As(err, &c) {
		return c
	}
	st := status.Convert(wire.StatusError(err))
	c = connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	for _, d := range st.Proto().GetDetails() {
		if detail, err := connect.NewErrorDetail(d); err == nil { // an Any is taken as it is
			c.AddDetail(detail)
		}
	}
	return c
}

// grpcStatus shows a connect error as the gRPC status it stands for (what
// package client reads its reason from), and still unwraps to it.
type grpcStatus struct{ err *connect.Error }

func (s grpcStatus) Error() string { return s.err.Error() }
func (s grpcStatus) Unwrap() error { return s.err }

func (s grpcStatus) GRPCStatus() *status.Status {
	details := make([]*anypb.Any, 0, len(s.err.Details()))
	for _, d := range s.err.Details() {
		details = append(details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	return status.FromProto(&spb.Status{Code: int32(s.err.Code()), Message: s.err.Message(), Details: details})
}

// asStatus is err as package client reads errors: a connect error as its
// gRPC status.
func asStatus(err error) error {
	var c *connect.Error
	if errors.As(err, &c) {
		return grpcStatus{c}
	}
	return err
}

// Reason returns the ErrorInfo reason of a connect error a call returned,
// or "" when it carries none from authd: wire.Reason for connect clients.
func Reason(err error) string {
	var c *connect.Error
	if !errors.As(err, &c) {
		return ""
	}
	for _, d := range c.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok && info.GetDomain() == wire.Domain {
				return info.GetReason()
			}
		}
	}
	return ""
}
