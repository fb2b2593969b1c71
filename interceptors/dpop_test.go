package interceptors_test

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/dpop"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// dpopDesc is a service with a unary and a server-streaming method, each
// answering the thumbprint of the key its caller proved.
var dpopDesc = &grpc.ServiceDesc{
	ServiceName: "test.DPoP",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(examplev1.HelloRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.DPoP/Call"}, func(ctx context.Context, _ any) (any, error) {
				return &examplev1.HelloResponse{Message: guard.KeyThumbprintFromContext(ctx)}, nil
			})
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Watch",
		ServerStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			var in examplev1.HelloRequest
			if err := stream.RecvMsg(&in); err != nil {
				return err
			}
			return stream.SendMsg(&examplev1.HelloResponse{Message: guard.KeyThumbprintFromContext(stream.Context())})
		},
	}},
}

// serveDPoP serves dpopDesc behind the interceptors and TapHandle of a
// Guard taking DPoP proofs checked by a verifier of vcfg, on iss's clock.
func serveDPoP(t testing.TB, iss *tokens.Issuer, vcfg dpop.Config) *grpc.ClientConn {
	t.Helper()
	vcfg.Clock = iss.Clock
	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, DPoP: dpop.NewVerifier(vcfg), Methods: map[string]guard.Rule{
		"/test.DPoP/Call": {Requirement: guard.Access}, "/test.DPoP/Watch": {Requirement: guard.Access},
	}})
	authn := interceptors.New(g)
	srv := grpc.NewServer(grpc.InTapHandle(interceptors.TapHandle(g)),
		grpc.UnaryInterceptor(authn.UnaryServerInterceptor()), grpc.StreamInterceptor(authn.StreamServerInterceptor()))
	srv.RegisterService(dpopDesc, struct{}{})
	return tokens.Serve(t, srv)
}

// boundAccess is an access token bound to key.
func boundAccess(t testing.TB, iss *tokens.Issuer, key *dpop.Key) string {
	t.Helper()
	c := iss.Claims(token.Access, "alice", sid)
	c.Confirmation = &token.Confirmation{JWKThumbprint: key.Thumbprint()}
	return iss.Sign(t, c)
}

// withProof is ctx with "DPoP tok" and a proof by key for method at
// bufnet, over plain HTTP/2 (what tokens.Serve dials), with nonce.
func withProof(t testing.TB, iss *tokens.Issuer, key *dpop.Key, method, tok, nonce string) context.Context {
	t.Helper()
	p, err := key.Proof("POST", dpop.HTU("http", "bufnet", method), tok, nonce, iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(bg, wire.AuthorizationKey, wire.DPoPScheme+" "+tok, wire.DPoPKey, p)
}

// A token bound to a key passes the interceptors, unary and streaming,
// with a proof naming the :authority and scheme the server received, and
// the handler sees the key; as a bearer token, or with a proof of another
// method, it is refused.
func TestDPoP_BoundTokenThroughTheInterceptors(t *testing.T) {
	iss := tokens.New(t)
	conn := serveDPoP(t, iss, dpop.Config{})
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := boundAccess(t, iss, key)
	out := new(examplev1.HelloResponse)
	if err := conn.Invoke(withProof(t, iss, key, "/test.DPoP/Call", tok, ""), "/test.DPoP/Call", &examplev1.HelloRequest{}, out); err != nil {
		t.Fatal(err)
	}
	if out.GetMessage() != key.Thumbprint() {
		t.Fatalf("the handler saw key %q, want %q", out.GetMessage(), key.Thumbprint())
	}
	if got, err := watch(withProof(t, iss, key, "/test.DPoP/Watch", tok, ""), conn, nil); err != nil || got != key.Thumbprint() {
		t.Fatalf("stream: %q, %v", got, err)
	}

	err = conn.Invoke(tokens.Bearer(bg, tok), "/test.DPoP/Call", &examplev1.HelloRequest{}, out)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	err = conn.Invoke(withProof(t, iss, key, "/test.DPoP/Watch", tok, ""), "/test.DPoP/Call", &examplev1.HelloRequest{}, out)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
	_, err = watch(tokens.Bearer(bg, tok), conn, nil)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)

	// TapHandle refuses two proofs before the body.
	two := metadata.AppendToOutgoingContext(withProof(t, iss, key, "/test.DPoP/Call", tok, ""), wire.DPoPKey, "a.b.c")
	err = conn.Invoke(two, "/test.DPoP/Call", &examplev1.HelloRequest{}, out)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
}

// A verifier requiring nonces refuses a proof without one with
// DPOP_NONCE_REQUIRED and the nonce in the dpop-nonce response header, on
// a unary call and a stream's opening alike; signed into a new proof it
// is accepted, and a successful call carrying a proof gets a fresh nonce.
func TestDPoP_NonceHeader(t *testing.T) {
	iss := tokens.New(t)
	conn := serveDPoP(t, iss, dpop.Config{RequireNonce: true})
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := boundAccess(t, iss, key)
	var header metadata.MD
	err = conn.Invoke(withProof(t, iss, key, "/test.DPoP/Call", tok, ""), "/test.DPoP/Call", &examplev1.HelloRequest{}, new(examplev1.HelloResponse), grpc.Header(&header))
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPNonceRequired)
	nonce := header.Get(wire.DPoPNonceHeader)
	if len(nonce) != 1 {
		t.Fatalf("dpop-nonce header %q", nonce)
	}
	if got, ok := dpop.NonceOf(err); !ok || got != nonce[0] {
		t.Fatalf("the status's nonce %q, the header's %q", got, nonce[0])
	}
	header = nil
	if err := conn.Invoke(withProof(t, iss, key, "/test.DPoP/Call", tok, nonce[0]), "/test.DPoP/Call", &examplev1.HelloRequest{}, new(examplev1.HelloResponse), grpc.Header(&header)); err != nil {
		t.Fatalf("with the nonce: %v", err)
	}
	if len(header.Get(wire.DPoPNonceHeader)) != 1 {
		t.Fatalf("no fresh nonce on success: %v", header)
	}

	header = nil
	_, err = watch(withProof(t, iss, key, "/test.DPoP/Watch", tok, ""), conn, &header)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPNonceRequired)
	if len(header.Get(wire.DPoPNonceHeader)) != 1 {
		t.Fatalf("stream: dpop-nonce header %v", header)
	}
	if _, err := watch(withProof(t, iss, key, "/test.DPoP/Watch", tok, header.Get(wire.DPoPNonceHeader)[0]), conn, nil); err != nil {
		t.Fatalf("stream with the nonce: %v", err)
	}
}

// watch opens test.DPoP/Watch and returns its one message, its response
// header in header when not nil.
func watch(ctx context.Context, conn *grpc.ClientConn, header *metadata.MD) (string, error) {
	stream, err := conn.NewStream(ctx, &dpopDesc.Streams[0], "/test.DPoP/Watch")
	if err != nil {
		return "", err
	}
	if err := stream.SendMsg(&examplev1.HelloRequest{}); err != nil {
		return "", err
	}
	if err := stream.CloseSend(); err != nil {
		return "", err
	}
	out := new(examplev1.HelloResponse)
	err = stream.RecvMsg(out)
	if header != nil {
		*header, _ = stream.Header()
	}
	if err != nil && err != io.EOF {
		return "", err
	}
	return out.GetMessage(), nil
}
