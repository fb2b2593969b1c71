package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/wire"
)

// A client logs in once; its DialOptions attach the token to every call,
// refresh it when it expires, and adopt the renewals the greeter hands out.
func Example() {
	authd, dialGreeter, clk, stop := demo()
	defer stop()
	ctx := context.Background()

	c, err := client.New(ctx, authd, client.Config{
		Clock:    clk,  // the demo's fake clock; leave out in real code
		Insecure: true, // the demo runs on bufconn; use TLS in real code
		// Store: client.FileStore{Path: "tokens.json"} keeps the session across runs.
		OnLoginRequired: func(_ context.Context, err error) {
			fmt.Println("login required:", status.Convert(err).Message())
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	greeter := examplev1.NewGreeterServiceClient(dialGreeter(c.DialOptions()...))

	me, err := greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	fmt.Println(me.GetSubject(), err)

	clk.Advance(16 * time.Minute) // the 15-minute access token has expired
	me, err = greeter.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	fmt.Println(me.GetSubject(), err)

	_, err = greeter.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
	fmt.Println(status.Code(err))
	// Output:
	// alice <nil>
	// alice <nil>
	// login required: Fresh token required
	// Unauthenticated
}

// demo starts authd with user alice and the example greeter on bufconn,
// both on a fake clock.
func demo() (authd *grpc.ClientConn, dialGreeter func(...grpc.DialOption) *grpc.ClientConn, clk *clock.Fake, stop func()) {
	h := &tokens.Harness{}
	e, dial := demoEnv(h)
	return e.Conn, dial, e.Clock, h.Close
}

// demoEnv is demo's authd and greeter, torn down with h.
func demoEnv(h *tokens.Harness) (*authdtest.Env, func(...grpc.DialOption) *grpc.ClientConn) {
	e := authdtest.New(h)
	e.AddUser(h, "alice", "correct horse")
	// The greeter verifies authd's tokens and renews them through authd.
	g := guard.New(e.Issuer.Verifier, guard.Config{
		PublicHealthAndReflection: true, Renewer: protect.RemoteRenewer(e.Conn), Clock: e.Clock,
	})
	srv, err := greeter.NewServer(g, e.Clock)
	if err != nil {
		log.Fatal(err)
	}
	return e, func(opts ...grpc.DialOption) *grpc.ClientConn { return tokens.Serve(h, srv, opts...) }
}

// A user with an authenticator logs in with a password and a code. The
// greeter's Transfer wants a second factor proven within five minutes:
// later, it is refused with STEP_UP_REQUIRED, OnStepUpRequired hears of
// it (an application would ask for a code there), and StepUp raises the
// session so that the call goes through.
func ExampleClient_StepUp() {
	h := &tokens.Harness{}
	defer h.Close()
	e, dialGreeter := demoEnv(h)
	authenticator := e.EnrollTOTP(h, "alice", "correct horse") // alice's authenticator app
	ctx := context.Background()

	c, err := client.New(ctx, e.Conn, client.Config{
		Clock:    e.Clock, // the demo's fake clock; leave out in real code
		Insecure: true,    // the demo runs on bufconn; use TLS in real code
		OnStepUpRequired: func(_ context.Context, err error) {
			fmt.Println("step-up required:", wire.Reason(err))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = c.Login(ctx, "alice", "correct horse")
	fmt.Println(errors.Is(err, client.ErrSecondFactorRequired))
	e.Clock.Advance(30 * time.Second) // a code is good once: the next one
	if err := c.LoginSecondFactor(ctx, client.TOTPCode(authenticator.Code(h))); err != nil {
		log.Fatal(err)
	}
	greeter := examplev1.NewGreeterServiceClient(dialGreeter(c.DialOptions()...))
	transfer := &examplev1.TransferRequest{Amount: 1200, To: "bob"}

	sent, err := greeter.Transfer(ctx, transfer)
	fmt.Println(sent.GetMessage(), err)

	e.Clock.Advance(6 * time.Minute) // the second factor is older than Transfer's max_age
	_, err = greeter.Transfer(ctx, transfer)
	fmt.Println(status.Code(err))
	if err := c.StepUp(ctx, client.TOTPCode(authenticator.Code(h))); err != nil {
		log.Fatal(err)
	}
	sent, err = greeter.Transfer(ctx, transfer)
	fmt.Println(sent.GetMessage(), err)
	// Output:
	// true
	// 1200 cents would go from alice to bob now <nil>
	// step-up required: STEP_UP_REQUIRED
	// Unauthenticated
	// 1200 cents would go from alice to bob now <nil>
}

// A service account whose tokens are bound to a key the process keeps
// (DPoP): authd binds each token to it, and every call carries a new proof
// of it, so a token copied from a log is of no use.
func ExampleClientCredentials() {
	h := &tokens.Harness{}
	defer h.Close()
	e := authdtest.New(h)
	id, secret := e.AddClient(h, "reporter", "orders:read")
	// The greeter takes bound tokens, with their proofs (protect.New does
	// this by default).
	g := guard.New(e.Issuer.Verifier, guard.Config{
		PublicHealthAndReflection: true, Clock: e.Clock,
		DPoP: dpop.NewVerifier(dpop.Config{Clock: e.Clock}),
	})
	srv, err := greeter.NewServer(g, e.Clock)
	if err != nil {
		log.Fatal(err)
	}
	dialGreeter := func(opts ...grpc.DialOption) *grpc.ClientConn { return tokens.Serve(h, srv, opts...) }
	authdConn := e.Conn

	creds := client.ClientCredentials(authdConn, id, secret, []string{"orders:read"}, client.CredentialsConfig{
		DPoP:     true,
		Insecure: true,    // the demo runs on bufconn; use TLS in real code
		Clock:    e.Clock, // the demo's fake clock; leave out in real code
	})
	greeter := examplev1.NewGreeterServiceClient(dialGreeter(creds.DialOptions()...))
	me, err := greeter.WhoAmI(context.Background(), &examplev1.WhoAmIRequest{})
	fmt.Println(me.GetSubject(), err)
	// Output:
	// client:reporter <nil>
}
