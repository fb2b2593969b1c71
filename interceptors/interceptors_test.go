package interceptors_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

var bg = context.Background()

// sid is the session of the tokens tests mint.
const sid = "session-1"

// streamMethods names the test service's server-streaming method of each
// requirement, declared in guard.Config.Methods rather than a proto option.
var streamMethods = map[guard.Requirement]string{
	guard.Public:      "Public",
	guard.Access:      "Access",
	guard.FreshAccess: "FreshAccess",
	guard.Refresh:     "Refresh",
	guard.Optional:    "Optional",
}

func streamServiceDesc() (*grpc.ServiceDesc, map[string]guard.Rule) {
	desc := &grpc.ServiceDesc{ServiceName: "test.Streams", HandlerType: (*any)(nil)}
	reqs := map[string]guard.Rule{}
	for req, name := range streamMethods {
		desc.Streams = append(desc.Streams, grpc.StreamDesc{
			StreamName:    name,
			ServerStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				var in examplev1.HelloRequest
				if err := stream.RecvMsg(&in); err != nil {
					return err
				}
				subject := "anonymous"
				if c, ok := guard.ClaimsFromContext(stream.Context()); ok {
					subject = c.Subject
				}
				return stream.SendMsg(&examplev1.HelloResponse{Message: subject})
			},
		})
		reqs["/test.Streams/"+name] = guard.Rule{Requirement: req}
	}
	return desc, reqs
}

// newGreeter serves the example greeter, verifying iss's tokens on its
// clock with health and reflection public (what cfg leaves unset), and
// returns a client of it.
func newGreeter(t *testing.T, iss *tokens.Issuer, cfg guard.Config) examplev1.GreeterServiceClient {
	t.Helper()
	srv, err := greeter.NewServer(greeterGuard(iss.Verifier, iss.Clock, cfg), iss.Clock)
	if err != nil {
		t.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
}

// greeterGuard is the Guard the greeter is served behind: cfg on clk, with
// health and reflection public, as greeter.NewServer requires.
func greeterGuard(v guard.Verifier, clk clock.Clock, cfg guard.Config) *guard.Guard {
	cfg.PublicHealthAndReflection = true
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	return guard.New(v, cfg)
}

const (
	ok        = ""
	missing   = wire.ReasonTokenMissing
	invalid   = wire.ReasonTokenInvalid
	expired   = wire.ReasonTokenExpired
	wrongType = wire.ReasonWrongTokenType
	notFresh  = wire.ReasonFreshTokenRequired
	revoked   = wire.ReasonTokenRevoked
)

func TestClaimsReachHandlers(t *testing.T) {
	iss := tokens.New(t)
	greeter := newGreeter(t, iss, guard.Config{})
	access := tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid))
	resp, err := greeter.WhoAmI(access, &examplev1.WhoAmIRequest{})
	if err != nil || resp.Subject != "alice" || !resp.Fresh || resp.Sid != sid {
		t.Fatalf("WhoAmI = %v, %v", resp, err)
	}
	greet, err := greeter.Greet(bg, &examplev1.GreetRequest{})
	if err != nil || greet.Message != "hello, stranger" {
		t.Fatalf("anonymous Greet = %v, %v", greet, err)
	}
	greet, err = greeter.Greet(access, &examplev1.GreetRequest{})
	if err != nil || greet.Message != "hello, alice" {
		t.Fatalf("Greet with token = %v, %v", greet, err)
	}
}

func TestStream_EndedWithTokenExpiredWhenTokenExpires(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	access := iss.FreshAccess(t, "alice", sid) // expires in 15 minutes
	stream, err := client.Ticks(tokens.Bearer(bg, access), &examplev1.TicksRequest{IntervalMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	for n := int64(1); ; n++ {
		tick, err := stream.Recv()
		if err != nil {
			tokens.WantRefusal(t, err, codes.Unauthenticated, expired)
			if n != 16 {
				t.Fatalf("stream ended after %d ticks of one minute, want at the 15-minute expiry", n-1)
			}
			return
		}
		if tick.N != n || tick.Subject != "alice" {
			t.Fatalf("tick = %v, want %d for alice", tick, n)
		}
		// Until the token expires, two timers are armed: the handler's for
		// the next tick and the interceptor's for the expiry.
		if !iss.Clock.WaitForTimers(2, 10*time.Second) {
			t.Fatalf("after tick %d: the handler's tick timer and the expiry timer were never both armed", n)
		}
		iss.Clock.Advance(time.Minute)
	}
}

func TestFreshMaxAge_RecentLoginCountsAsFresh(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{FreshMaxAge: 5 * time.Minute})
	ctx := tokens.Bearer(bg, iss.Access(t, "alice", sid)) // fresh: false, auth_time: now
	iss.Clock.Advance(4 * time.Minute)
	if _, err := client.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{}); err != nil {
		t.Fatalf("non-fresh token 4 minutes after login, max age 5m: %v", err)
	}
	iss.Clock.Advance(time.Minute)
	_, err := client.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, notFresh)
}

// revocationsFunc adapts a function to guard.Revocations.
type revocationsFunc func(context.Context, *token.Claims) (bool, error)

func (f revocationsFunc) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	return f(ctx, c)
}

// Revocations are checked on every call, after the verified-token cache: a
// token accepted once is refused as soon as its session is revoked, and a
// check that cannot be made fails the call closed.
func TestRevocations_CheckedOnEveryCall(t *testing.T) {
	iss := tokens.New(t)
	var revokedSID atomic.Value
	revokedSID.Store("")
	var down atomic.Bool
	client := newGreeter(t, iss, guard.Config{Revocations: revocationsFunc(func(_ context.Context, c *token.Claims) (bool, error) {
		if down.Load() {
			return false, errors.New("store down")
		}
		return c.SessionID == revokedSID.Load().(string), nil
	})})
	ctx := tokens.Bearer(bg, iss.Access(t, "alice", sid))
	if _, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	revokedSID.Store(sid)
	_, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	// Optional methods check a token that is sent like any other.
	_, err = client.Greet(ctx, &examplev1.GreetRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, revoked)
	if _, err := client.Hello(ctx, &examplev1.HelloRequest{}); err != nil {
		t.Fatalf("public method with a revoked token: %v", err)
	}

	revokedSID.Store("")
	down.Store(true)
	_, err = client.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unavailable, "")
}

// The verified-token cache never outlives a token: once its exp is reached
// the call is refused as expired, however recently it was verified.
func TestCache_NeverServesAnExpiredToken(t *testing.T) {
	for _, size := range []int{10000, -1} {
		t.Run(map[int]string{10000: "cache on", -1: "cache off"}[size], func(t *testing.T) {
			iss := tokens.New(t)
			client := newGreeter(t, iss, guard.Config{CacheSize: size})
			ctx := tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid))
			iss.Clock.Advance(tokens.AccessTTL - time.Second)
			if _, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{}); err != nil {
				t.Fatalf("a second before exp: %v", err)
			}
			iss.Clock.Advance(time.Second)
			_, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
			tokens.WantRefusal(t, err, codes.Unauthenticated, expired)
		})
	}
}

// Call hands the Guard the call's method, its authorization values and,
// over mutual TLS, the client's certificate: a token bound to that
// certificate (cnf x5t#S256) passes the interceptor only over a connection
// presenting it.
func TestCall_PeerCertificateReachesTheGuard(t *testing.T) {
	iss := tokens.New(t)
	cert := &x509.Certificate{Raw: []byte("the client certificate's DER")}
	other := &x509.Certificate{Raw: []byte("another certificate's DER")}
	sum := sha256.Sum256(cert.Raw)
	c := iss.Claims(token.Access, "alice", sid)
	c.Confirmation = &token.Confirmation{CertificateThumbprint: base64.RawURLEncoding.EncodeToString(sum[:])}
	bound := iss.Sign(t, c)
	over := func(peerCert *x509.Certificate) context.Context {
		ctx := metadata.NewIncomingContext(bg, metadata.Pairs(wire.AuthorizationKey, "Bearer "+bound))
		if peerCert == nil {
			return ctx
		}
		state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{peerCert}}
		return peer.NewContext(ctx, &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	}

	call := interceptors.Call(over(cert), whoAmI)
	if call.Method != whoAmI || call.PeerCertificate != cert || len(call.Authorization) != 1 || call.Authorization[0] != "Bearer "+bound {
		t.Fatalf("Call = %+v", call)
	}
	if got := interceptors.Call(over(nil), whoAmI).PeerCertificate; got != nil {
		t.Fatalf("PeerCertificate without TLS = %v", got)
	}

	icpt := interceptors.New(guard.New(iss.Verifier, guard.Config{Clock: iss.Clock})).UnaryServerInterceptor()
	info := &grpc.UnaryServerInfo{FullMethod: whoAmI}
	handler := func(ctx context.Context, _ any) (any, error) {
		claims, _ := guard.ClaimsFromContext(ctx)
		return claims.Subject, nil
	}
	if got, err := icpt(over(cert), nil, info, handler); err != nil || got != "alice" {
		t.Fatalf("over the bound certificate: %v, %v", got, err)
	}
	for name, peerCert := range map[string]*x509.Certificate{"no certificate": nil, "another certificate": other} {
		_, err := icpt(over(peerCert), nil, info, handler)
		if status.Code(err) != codes.Unauthenticated || wire.Reason(err) != invalid {
			t.Fatalf("%s: %v; want %s", name, err, invalid)
		}
	}
}
