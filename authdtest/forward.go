package authdtest

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
)

// What follows is package tokens', under the names authd's tests have
// always used, so that a test needs one import.

// Start is the fake clock's starting time (tokens.Start).
var Start = tokens.Start

// CheapParams make argon2id fast enough for tests (tokens.CheapParams).
var CheapParams = tokens.CheapParams

// TB is tokens.TB.
type TB = tokens.TB

// LogBuffer is tokens.LogBuffer.
type LogBuffer = tokens.LogBuffer

// Harness is tokens.Harness.
type Harness = tokens.Harness

// Serve is tokens.Serve.
func Serve(t TB, srv *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	return tokens.Serve(t, srv, dialOpts...)
}

// Bearer is tokens.Bearer.
func Bearer(ctx context.Context, tok string) context.Context { return tokens.Bearer(ctx, tok) }

// WantRefusal is tokens.WantRefusal.
func WantRefusal(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	tokens.WantRefusal(t, err, code, reason)
}
