package connectauth_test

import (
	"context"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/dpop"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// A client.Client with a session bound to its DPoP key calls connect-go
// services behind connectauth with `DPoP <token>` and a new proof for each
// call's URL, over Connect, gRPC and gRPC-Web; a service that wants a nonce
// gets one retry of a unary call with it, and every later call, streams
// included, carries it from the start. The token alone is refused.
func TestClientInterceptor_DPoP(t *testing.T) {
	iss := tokens.New(t)
	v := dpop.NewVerifier(dpop.Config{Clock: iss.Clock, RequireNonce: true})
	srv := newGreeter(t, iss.Clock, connectauth.New(greeterGuard(iss, guard.Config{DPoP: v})))
	var attempts atomic.Int64
	count := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			attempts.Add(1) // inside ClientInterceptor: every attempt
			return next(ctx, req)
		}
	})

	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := key.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	bound := func(c *token.Claims) { c.Confirmation = &token.Confirmation{JWKThumbprint: key.Thumbprint()} }
	store := &client.MemoryStore{}
	if err := store.Save(bg, client.Tokens{
		Access: iss.FreshAccess(t, "alice", "s-1", bound), Refresh: iss.Refresh(t, "alice", "s-1", bound), DPoPKey: string(pem),
	}); err != nil {
		t.Fatal(err)
	}
	nowhere, err := grpc.NewClient("passthrough:///authd", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nowhere.Close() })
	c, err := client.New(bg, nowhere, client.Config{Store: store, Clock: iss.Clock})
	if err != nil {
		t.Fatal(err)
	}

	for i, p := range protocols {
		greeter := greeterClient(srv, p.opt, connect.WithInterceptors(connectauth.ClientInterceptor(c), count))
		attempts.Store(0)
		who, err := greeter.WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{}))
		if err != nil || who.Msg.Subject != "alice" {
			t.Fatalf("%s: WhoAmI = %v, %v", p.name, who, err)
		}
		want := int64(1)
		if i == 0 {
			want = 2 // the first call of all learns the nonce
		}
		if got := attempts.Load(); got != want {
			t.Fatalf("%s: %d attempts, want %d", p.name, got, want)
		}
		ticks, err := greeter.Ticks(bg, connect.NewRequest(&examplev1.TicksRequest{Count: 1}))
		if err != nil {
			t.Fatal(err)
		}
		if !ticks.Receive() || ticks.Msg().Subject != "alice" {
			t.Fatalf("%s: Ticks: %v", p.name, ticks.Err())
		}
		ticks.Close()
	}

	stolen := greeterClient(srv, connect.WithGRPC())
	req := connect.NewRequest(&examplev1.WhoAmIRequest{})
	req.Header().Set(wire.AuthorizationKey, "Bearer "+c.Tokens().Access)
	if _, err := stolen.WhoAmI(bg, req); connectauth.Reason(err) != wire.ReasonDPoPProofRequired {
		t.Fatalf("the token without a proof: %v, want DPOP_PROOF_REQUIRED", err)
	}
}
