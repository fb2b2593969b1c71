package interceptors_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// A service verifying authd's tokens with keys from its JWKS, every method
// protected as its .proto declares.
func ExampleNew() {
	// The example stands in for authd: its keys, its tokens, and a fake
	// clock. Over bufconn, as tests do.
	h := new(tokens.Harness)
	defer h.Close()
	authd := tokens.New(h)
	published := jwks.FetcherFunc(func(context.Context) ([]token.JWK, error) { return authd.Keys.JWKS(), nil })

	// In a real service: jwks.New(jwks.GRPC(authdConn), jwks.Config{}), and
	// no clocks (or protect.New, which sets it all up).
	keys := jwks.New(published, jwks.Config{Clock: authd.Clock})
	verifier, err := token.NewVerifier(keys, token.WithClock(authd.Clock))
	if err != nil {
		log.Fatal(err)
	}
	authn := interceptors.New(guard.New(verifier, guard.Config{PublicHealthAndReflection: true, Clock: authd.Clock}))
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: authd.Clock})
	// Refuse to start if any method is undeclared.
	if err := authn.CheckServer(srv); err != nil {
		log.Fatal(err)
	}

	client := examplev1.NewGreeterServiceClient(tokens.Serve(h, srv))
	ctx := context.Background()
	access := tokens.Bearer(ctx, authd.Access(h, "alice", "session-1"))
	who, err := client.WhoAmI(access, &examplev1.WhoAmIRequest{})
	fmt.Println("WhoAmI with a token:", who.GetSubject(), err)
	_, err = client.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	fmt.Println("WhoAmI without:", status.Code(err), wire.Reason(err))
	_, err = client.DeleteAccount(access, &examplev1.DeleteAccountRequest{})
	fmt.Println("DeleteAccount with a token that is not fresh:", status.Code(err), wire.Reason(err))
	// Output:
	// WhoAmI with a token: alice <nil>
	// WhoAmI without: Unauthenticated TOKEN_MISSING
	// DeleteAccount with a token that is not fresh: Unauthenticated FRESH_TOKEN_REQUIRED
}

// The Authenticator's AuthFunc plugs into go-grpc-middleware's auth
// interceptor, here behind a selector that leaves health checks open.
func ExampleAuthenticator_AuthFunc() {
	h := new(tokens.Harness)
	defer h.Close()
	secret := []byte(strings.Repeat("s", 32)) // shared with flask-jwt-extended services
	flask := tokens.New(h, tokens.WithHS256(secret))

	key, err := token.NewHMACKey(secret)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(key, token.WithClock(flask.Clock))
	if err != nil {
		log.Fatal(err)
	}
	authn := interceptors.New(guard.New(verifier, guard.Config{Clock: flask.Clock}))
	notHealth := selector.MatchFunc(func(_ context.Context, c middleware.CallMeta) bool {
		return c.Service != healthpb.Health_ServiceDesc.ServiceName
	})
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authn.AuthFunc), notHealth),
	))
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: flask.Clock})
	healthpb.RegisterHealthServer(srv, health.NewServer())

	conn := tokens.Serve(h, srv)
	ctx := context.Background()
	who, err := examplev1.NewGreeterServiceClient(conn).WhoAmI(
		tokens.Bearer(ctx, flask.Access(h, "alice", "")), &examplev1.WhoAmIRequest{})
	fmt.Println("WhoAmI with an HS256 token:", who.GetSubject(), err)
	_, err = examplev1.NewGreeterServiceClient(conn).WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	fmt.Println("WhoAmI without:", status.Code(err), wire.Reason(err))
	// Health declares no requirement, so the AuthFunc would refuse it
	// (default ACCESS); the selector skips it.
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println("Health without a token:", resp.GetStatus(), status.Code(err) == codes.OK)
	// Output:
	// WhoAmI with an HS256 token: alice <nil>
	// WhoAmI without: Unauthenticated TOKEN_MISSING
	// Health without a token: SERVING true
}
