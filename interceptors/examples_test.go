package interceptors_test

import (
	"context"
	"log"
	"strings"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/token"
)

// A service verifying authd's tokens with keys from its JWKS, every method
// protected as its .proto declares.
func ExampleNew() {
	conn, err := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(jwks.New(jwks.GRPC(conn)))
	if err != nil {
		log.Fatal(err)
	}
	authn := interceptors.New(verifier, interceptors.WithPublicHealthAndReflection())
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	// Register services here, then refuse to start if any method is undeclared.
	if err := authn.CheckServer(srv); err != nil {
		log.Fatal(err)
	}
}

// The Authenticator's AuthFunc plugs into go-grpc-middleware's auth
// interceptor, here behind a selector that skips an internal service.
func ExampleAuthenticator_AuthFunc() {
	secret := []byte(strings.Repeat("s", 32)) // shared with flask-jwt-extended services
	key, err := token.NewHMACKey(secret)
	if err != nil {
		log.Fatal(err)
	}
	verifier, err := token.NewVerifier(key)
	if err != nil {
		log.Fatal(err)
	}
	authn := interceptors.New(verifier)
	external := selector.MatchFunc(func(_ context.Context, c middleware.CallMeta) bool {
		return !strings.HasPrefix(c.Service, "internal.")
	})
	_ = grpc.NewServer(grpc.ChainUnaryInterceptor(
		selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(authn.AuthFunc), external),
	))
}
