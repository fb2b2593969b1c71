package protect_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/wire"
)

// bodies counts, per method, the request messages a server read.
type bodies struct {
	mu   sync.Mutex
	read map[string]int
}

type methodKey struct{}

func (b *bodies) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}
func (b *bodies) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InPayload); ok {
		b.mu.Lock()
		b.read[ctx.Value(methodKey{}).(string)]++
		b.mu.Unlock()
	}
}
func (b *bodies) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (b *bodies) HandleConn(context.Context, stats.ConnStats)                       {}

func (b *bodies) of(method string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read[method]
}

// padded returns m with n bytes of an unknown field: a request as large as
// a client cares to send.
func padded[M proto.Message](m M, n int) M {
	var b []byte
	b = protowire.AppendTag(b, 1000, protowire.BytesType)
	b = protowire.AppendBytes(b, make([]byte, n))
	m.ProtoReflect().SetUnknown(b)
	return m
}

// The example greeter run with protect.ServerOptions: a call to a method
// that needs a token is refused before its body is read when it carries
// none, or one not shaped like a token, however large its body (4 MiB
// here), with the refusal the interceptors would send; a request over the
// receive limit is refused unread even on a public method; calls with a
// token and public calls of legitimate size are served as before.
func TestServerOptions_RefuseBeforeReading(t *testing.T) {
	env := authdtest.New(t)
	env.AddUser(t, "alice", pw)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	g, err := protect.New(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}})
	if err != nil {
		t.Fatal(err)
	}
	counted := &bodies{read: map[string]int{}}
	srv, err := greeter.NewServer(g, env.Clock, append(protect.ServerOptions(g, protect.Limits{}), grpc.StatsHandler(counted))...)
	if err != nil {
		t.Fatal(err)
	}
	client := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	whoAmI := examplev1.GreeterService_WhoAmI_FullMethodName

	huge := padded(&examplev1.WhoAmIRequest{}, 4<<20)
	for _, tc := range []struct {
		name, authorization, reason string
	}{
		{"no token", "", wire.ReasonTokenMissing},
		{"not a bearer token", "Basic YWxpY2U6cHc=", wire.ReasonTokenMissing},
		{"not shaped like a token", "Bearer not-a-jwt", wire.ReasonTokenInvalid},
		{"longer than any token", "Bearer " + strings.Repeat("a", 9<<10), wire.ReasonTokenInvalid},
	} {
		callCtx := context.Background()
		if tc.authorization != "" {
			callCtx = metadata.AppendToOutgoingContext(callCtx, wire.AuthorizationKey, tc.authorization)
		}
		_, err := client.WhoAmI(callCtx, huge)
		tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
		if n := counted.of(whoAmI); n != 0 {
			t.Fatalf("%s: the server read %d bodies of WhoAmI; want none", tc.name, n)
		}
	}

	// Over the receive limit, even a public method is refused unread.
	_, err = client.Hello(context.Background(), padded(&examplev1.HelloRequest{}, protect.DefaultMaxRecvMsgSize))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("an oversized Hello: %v, want RESOURCE_EXHAUSTED", err)
	}
	if n := counted.of(examplev1.GreeterService_Hello_FullMethodName); n != 0 {
		t.Errorf("the server read %d oversized Hello bodies", n)
	}

	// Legitimate calls are served.
	if _, err := client.Hello(context.Background(), &examplev1.HelloRequest{}); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	login := env.Login(t, "alice", pw)
	who, err := client.WhoAmI(tokens.Bearer(context.Background(), login.AccessToken), padded(&examplev1.WhoAmIRequest{}, 1<<10))
	if err != nil || who.GetSubject() != "alice" {
		t.Fatalf("WhoAmI with a token: %v, %v", who, err)
	}
	// A token shaped right but forged passes the tap and is refused by
	// the interceptor, after its (small) body was read.
	_, err = client.WhoAmI(tokens.Bearer(context.Background(), forged(login.AccessToken)), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	if n := counted.of(whoAmI); n != 2 {
		t.Errorf("WhoAmI bodies read: %d, want 2 (the call with a token and the forged one)", n)
	}
}

// forged is tok with its signature changed: shaped like a token, not one.
func forged(tok string) string {
	parts := strings.Split(tok, ".")
	last := []byte(parts[2])
	if last[0] == 'A' {
		last[0] = 'B'
	} else {
		last[0] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(last)
}
