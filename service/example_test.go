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
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/service"
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
	key, _ := token.NewKey(time.Now())
	ring, _ := token.NewKeyring(key)
	signer, _ := token.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	verifier, _ := token.NewVerifier(ring)
	hasher, _ := password.NewHasher(password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}, 2)
	if _, err := accounts.New(st, hasher).CreateUser(ctx, "alice", "correct horse", nil); err != nil {
		panic(err)
	}

	svc, err := service.New(st, signer, verifier, hasher, service.WithJWKS(ring))
	if err != nil {
		panic(err)
	}
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
