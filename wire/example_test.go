package wire_test

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// A domain declares its refusals as *wire.Error values (here token's); a
// server wraps them with context as it likes and converts once, at the
// edge. The caller sees the refusal's own message, never the text wrapped
// around it, and branches on the reason, never on the message.
func ExampleStatusError() {
	err := wire.StatusError(fmt.Errorf("verify bearer token: %w", token.ErrExpired))

	st := status.Convert(err)
	fmt.Println(st.Code())
	fmt.Println(st.Message())
	fmt.Println(wire.Reason(err))
	// Output:
	// Unauthenticated
	// Token has expired
	// TOKEN_EXPIRED
}

// Renew at the session cap is not an authentication failure: the token
// still works until it expires, so the code is FailedPrecondition, and the
// reason tells the client that only a new login helps.
func ExampleStatusError_sessionCap() {
	err := wire.StatusError(fmt.Errorf("renew session s1: %w", session.ErrSessionCap))

	fmt.Println(status.Code(err))
	fmt.Println(wire.Reason(err) == wire.ReasonSessionCapReached)
	// Output:
	// FailedPrecondition
	// true
}

// A throttled login carries no ErrorInfo but a RetryInfo saying when the
// next attempt will be checked, rounded up to the second. Detail makes a
// copy of a refusal with its own message and retry delay (as accounts does
// for each throttled login), which errors.Is still matches to the refusal.
func ExampleStatusError_throttled() {
	throttled := wire.NewError(codes.ResourceExhausted, "", "too many failed logins")
	refusal := throttled.Detail("too many failed logins from this address; try again later", nil, 1500*time.Millisecond)
	fmt.Println(errors.Is(fmt.Errorf("login alice: %w", refusal), throttled))

	err := wire.StatusError(refusal)
	st := status.Convert(err)
	fmt.Println(st.Code())
	fmt.Println(st.Message())
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			fmt.Println("retry in", info.GetRetryDelay().AsDuration())
		}
	}
	fmt.Printf("reason %q\n", wire.Reason(err))
	// Output:
	// true
	// ResourceExhausted
	// too many failed logins from this address; try again later
	// retry in 2s
	// reason ""
}

// An error the table does not know becomes Internal, and none of its text
// reaches the caller. (authd's service goes further: it logs such an error
// and answers Unavailable, since it is most likely a store failure.)
func ExampleStatusError_unknown() {
	err := wire.StatusError(fmt.Errorf("dial tcp 10.0.0.7:5432: connection refused"))

	fmt.Println(status.Code(err))
	fmt.Println(status.Convert(err).Message())
	// Output:
	// Internal
	// internal error
}
