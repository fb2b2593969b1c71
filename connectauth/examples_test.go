package connectauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"connectrpc.com/connect"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/token"
)

// A connect-go service whose every procedure is protected as its .proto
// declares, called over the gRPC protocol.
func ExampleNew() {
	// The example stands in for authd: its keys, its tokens, and a fake
	// clock. A real service calls connectauth.Protect instead.
	h := new(tokens.Harness)
	defer h.Close()
	authd := tokens.New(h)
	authn := connectauth.New(guard.New(authd.Verifier, guard.Config{Clock: authd.Clock}))

	// connectGreeter serves package greeter's Greeter as a connect-go
	// GreeterServiceHandler.
	path, handler := examplev1connect.NewGreeterServiceHandler(connectGreeter{&greeter.Greeter{Clock: authd.Clock}},
		connect.WithInterceptors(authn.Interceptor()))
	// Refuse to start if any method is undeclared.
	if err := authn.CheckServices(path); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, authn.Middleware(handler))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	greeter := examplev1connect.NewGreeterServiceClient(srv.Client(), srv.URL, connect.WithGRPC())
	ctx := context.Background()
	req := connect.NewRequest(&examplev1.WhoAmIRequest{})
	req.Header().Set("Authorization", "Bearer "+authd.Access(h, "alice", "session-1"))
	who, err := greeter.WhoAmI(ctx, req)
	fmt.Println("WhoAmI with a token:", who.Msg.GetSubject(), err)
	_, err = greeter.WhoAmI(ctx, connect.NewRequest(&examplev1.WhoAmIRequest{}))
	fmt.Println("WhoAmI without:", connect.CodeOf(err), connectauth.Reason(err))
	del := connect.NewRequest(&examplev1.DeleteAccountRequest{})
	del.Header().Set("Authorization", req.Header().Get("Authorization"))
	_, err = greeter.DeleteAccount(ctx, del)
	fmt.Println("DeleteAccount with a token that is not fresh:", connect.CodeOf(err), connectauth.Reason(err))
	// Output:
	// WhoAmI with a token: alice <nil>
	// WhoAmI without: unauthenticated TOKEN_MISSING
	// DeleteAccount with a token that is not fresh: unauthenticated FRESH_TOKEN_REQUIRED
}

// A connect-go client calling as a user logged in with package client:
// the token is attached, renewed and refreshed for it.
func ExampleClientInterceptor() {
	h := new(tokens.Harness)
	defer h.Close()
	authd := authdtest.New(h)
	authd.AddUser(h, "alice", "correct horse")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the revocation polling

	// The service: the greeter behind connectauth.Protect, on authd's
	// keys (and, here only, its fake clock).
	authn, err := connectauth.Protect(ctx, authd.Conn, protect.Config{Guard: guard.Config{Clock: authd.Clock}})
	if err != nil {
		log.Fatal(err)
	}
	path, handler := examplev1connect.NewGreeterServiceHandler(connectGreeter{&greeter.Greeter{Clock: authd.Clock}},
		connect.WithInterceptors(authn.Interceptor()))
	mux := http.NewServeMux()
	mux.Handle(path, authn.Middleware(handler))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	// The client: logged in once, then every call carries its token.
	c, err := client.New(ctx, authd.Conn, client.Config{Insecure: true, Clock: authd.Clock})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	greeter := examplev1connect.NewGreeterServiceClient(srv.Client(), srv.URL,
		connect.WithInterceptors(connectauth.ClientInterceptor(c)))
	who, err := greeter.WhoAmI(ctx, connect.NewRequest(&examplev1.WhoAmIRequest{}))
	fmt.Println("WhoAmI:", who.Msg.GetSubject(), who.Msg.GetFresh(), err)
	// Output:
	// WhoAmI: alice true <nil>
}

// Error is the one mapping of refusals to connect errors: the code and
// ErrorInfo a grpc-go service would send, and nothing of an unexpected
// error's text.
func ExampleError() {
	for _, err := range []error{
		guard.ErrMissing,
		fmt.Errorf("verify: %w", token.ErrExpired),
		guard.InsufficientRole([]string{"admin"}),
		errors.New("database password is hunter2"),
		context.DeadlineExceeded,
	} {
		c := connectauth.Error(err)
		fmt.Printf("%s %q reason=%q\n", c.Code(), c.Message(), connectauth.Reason(c))
	}
	// Output:
	// unauthenticated "missing authorization metadata" reason="TOKEN_MISSING"
	// unauthenticated "Token has expired" reason="TOKEN_EXPIRED"
	// permission_denied "insufficient role: one of [admin] required" reason="INSUFFICIENT_ROLE"
	// internal "internal error" reason=""
	// deadline_exceeded "context deadline exceeded" reason=""
}
