package service_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// The whole of authd in a process: a store, keys, the service and its
// gRPC server (here on an in-memory listener), and a login.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "authd")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "authd.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	key, _ := keys.NewKey(time.Now())
	ring, _ := keys.NewKeyring(key)
	signer, _ := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	verifier, _ := token.NewVerifier(ring)
	hasher, _ := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)

	sessions, err := session.New(st, session.Config{Signer: signer, ReuseGrace: session.DefaultReuseGrace})
	if err != nil {
		panic(err)
	}
	accts := accounts.New(st, hasher, accounts.Config{Sessions: sessions})
	if _, err := accts.CreateUser(ctx, "alice", "correct horse", nil); err != nil {
		panic(err)
	}
	// The Guard protects authd's own methods, checking every session with
	// the engine.
	g := guard.New(verifier, guard.Config{PublicHealthAndReflection: true, Revocations: sessions})
	svc := service.New(service.Config{Sessions: sessions, Accounts: accts, Guard: g, JWKS: ring})
	srv, _, err := service.NewServer(svc) // refuses to build if a method declares no requirement
	if err != nil {
		panic(err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, _ := grpc.NewClient("passthrough:///authd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()

	resp, err := authv1.NewAuthServiceClient(conn).Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	if err != nil {
		panic(err)
	}
	claims, _ := verifier.Verify(ctx, resp.GetAccessToken())
	fmt.Println(resp.GetTokenType(), resp.GetExpiresIn(), claims.Subject, claims.FreshAt(time.Now()))
	// Output: Bearer 900 alice true
}
