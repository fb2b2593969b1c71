package authdtest

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/internal/tokentest"
)

// What follows is package tokentest's, under the names authd's tests have
// always used.

// Start is the fake clock's starting time (tokentest.Start).
var Start = tokentest.Start

// CheapParams make argon2id fast enough for tests (tokentest.CheapParams).
var CheapParams = tokentest.CheapParams

// TB is tokentest.TB.
type TB = tokentest.TB

// LogBuffer is tokentest.LogBuffer.
type LogBuffer = tokentest.LogBuffer

// Harness is tokentest.Harness.
type Harness = tokentest.Harness

// Serve is tokentest.Serve.
func Serve(t TB, srv *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	return tokentest.Serve(t, srv, dialOpts...)
}

// Bearer is tokentest.Bearer.
func Bearer(ctx context.Context, tok string) context.Context { return tokentest.Bearer(ctx, tok) }

// WantRefusal is tokentest.WantRefusal.
func WantRefusal(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	tokentest.WantRefusal(t, err, code, reason)
}
