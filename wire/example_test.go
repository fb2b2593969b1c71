package wire_test

import (
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// A server wraps sentinels with context as it likes and converts once, at
// the edge; the caller branches on the reason, never on the message.
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
	err := wire.StatusError(wire.ErrSessionCap)

	fmt.Println(status.Code(err))
	fmt.Println(wire.Reason(err) == wire.ReasonSessionCapReached)
	// Output:
	// FailedPrecondition
	// true
}

// A throttled login carries no ErrorInfo but a RetryInfo saying when the
// next attempt will be checked, rounded up to the second.
func ExampleStatusError_throttled() {
	err := wire.StatusError(&wire.ThrottledError{Wait: 1500 * time.Millisecond})

	st := status.Convert(err)
	fmt.Println(st.Code())
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			fmt.Println("retry in", info.GetRetryDelay().AsDuration())
		}
	}
	fmt.Printf("reason %q\n", wire.Reason(err))
	// Output:
	// ResourceExhausted
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
