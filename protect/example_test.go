package protect_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/protect"
)

// A service protected by authd: New fetches authd's keys and revocations,
// then the service registers its handlers and checks that every method
// declares what it needs.
func Example() {
	h := &tokens.Harness{}
	defer h.Close()
	env := authdtest.New(h) // stands for authd; a service dials it with grpc.NewClient
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the revocation poller

	g, err := protect.New(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}})
	if err != nil {
		fmt.Println(err)
		return
	}
	authn := interceptors.New(g)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: env.Clock})
	if err := authn.CheckServer(srv); err != nil {
		fmt.Println(err)
		return
	}

	env.AddUser(h, "alice", "correct horse battery")
	login := env.Login(h, "alice", "correct horse battery")
	greeterClient := examplev1.NewGreeterServiceClient(tokens.Serve(h, srv))
	me, err := greeterClient.WhoAmI(tokens.Bearer(ctx, login.GetAccessToken()), &examplev1.WhoAmIRequest{})
	fmt.Println(me.GetSubject(), err)
	_, err = greeterClient.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	fmt.Println(err)
	// Output:
	// alice <nil>
	// rpc error: code = Unauthenticated desc = missing authorization metadata
}
