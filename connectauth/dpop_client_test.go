package connectauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

type hostKey struct{}

// proofChecker accepts a call only with `DPoP <token>` and a proof of the
// token's cnf.jkt for this call's URL, requiring its verifier's nonce: what
// a guard with DPoP does. It counts the calls it saw.
type proofChecker struct {
	iss      *tokens.Issuer
	verifier *dpop.Verifier

	mu     sync.Mutex
	proofs []string
}

func (p *proofChecker) check(ctx context.Context, procedure string, header http.Header) (context.Context, error) {
	p.mu.Lock()
	p.proofs = append(p.proofs, header.Get(wire.DPoPKey))
	p.mu.Unlock()
	scheme, raw, _ := strings.Cut(header.Get(wire.AuthorizationKey), " ")
	claims, err := p.iss.Verifier.Verify(ctx, raw)
	if err != nil {
		return nil, connectauth.Error(wire.StatusError(err))
	}
	if scheme != wire.DPoPScheme {
		return nil, connectauth.Error(dpop.ErrProofRequired)
	}
	htu := "https://" + ctx.Value(hostKey{}).(string) + procedure
	proof, err := p.verifier.Verify(header.Values(wire.DPoPKey), "POST", htu, raw)
	if err != nil {
		return nil, connectauth.Error(err)
	}
	if proof.JKT != claims.Confirmation.GetJWKThumbprint() {
		return nil, connectauth.Error(dpop.ErrProofInvalid)
	}
	return guard.ContextWithClaims(ctx, claims), nil
}

func (p *proofChecker) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.proofs...)
}

func (p *proofChecker) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := p.check(ctx, req.Spec().Procedure, req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (p *proofChecker) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (p *proofChecker) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := p.check(ctx, conn.Spec().Procedure, conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// A client.Client with a session bound to its DPoP key calls connect-go
// services with `DPoP <token>` and a new proof for each call's URL; a
// service that wants a nonce gets one retry of a unary call with it, and
// every later call, streams included, carries it from the start.
func TestClientInterceptor_DPoP(t *testing.T) {
	iss := tokens.New(t)
	checker := &proofChecker{iss: iss, verifier: dpop.NewVerifier(dpop.Config{Clock: iss.Clock, RequireNonce: true})}
	path, h := examplev1connect.NewGreeterServiceHandler(connectGreeter{&greeter.Greeter{Clock: iss.Clock}}, connect.WithInterceptors(checker))
	mux := http.NewServeMux()
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hostKey{}, r.Host)))
	}))
	srv := serve(t, mux, nil)

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
		greeter := greeterClient(srv, p.opt, connect.WithInterceptors(connectauth.ClientInterceptor(c)))
		before := len(checker.seen())
		who, err := greeter.WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{}))
		if err != nil || who.Msg.Subject != "alice" {
			t.Fatalf("%s: WhoAmI = %v, %v", p.name, who, err)
		}
		want := 1
		if i == 0 {
			want = 2 // the first call of all learns the nonce
		}
		if got := len(checker.seen()) - before; got != want {
			t.Fatalf("%s: the greeter saw %d calls, want %d", p.name, got, want)
		}
		ticks, err := greeter.Ticks(bg, connect.NewRequest(&examplev1.TicksRequest{Count: 1}))
		if err != nil {
			t.Fatal(err)
		}
		if !ticks.Receive() {
			t.Fatalf("%s: Ticks: %v", p.name, ticks.Err())
		}
		ticks.Close()
	}
	for _, proof := range checker.seen() {
		if proof == "" {
			t.Fatal("a call went without a proof")
		}
	}
}
