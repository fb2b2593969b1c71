package tokens

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/authd-dev/authd/wire"
)

// Serve serves srv on a bufconn listener and returns a client connection to
// it; both are closed with t.
func Serve(t TB, srv *grpc.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	dialOpts = append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dialOpts...)
	conn, err := grpc.NewClient("passthrough:///bufnet", dialOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Bearer returns ctx with an outgoing `authorization: Bearer tok`.
func Bearer(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, wire.AuthorizationKey, "Bearer "+tok)
}

// WantRefusal fails the test unless err has code and ErrorInfo reason
// (reason "" means no authd reason).
func WantRefusal(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %v %s", code, reason)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("code = %v, want %v (err: %v)", got, code, err)
	}
	if got := wire.Reason(err); got != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", got, reason, err)
	}
}
