package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	ordersv1 "example.com/consumer/gen/orders/v1"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// startOrders runs the order service against an in-process authd, both over
// bufconn and on authd's fake clock, and returns authd and a client of the
// service that sends whatever token ctx carries.
func startOrders(t *testing.T) (*authdtest.Env, ordersv1.OrderServiceClient) {
	t.Helper()
	env := authdtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // stops the revocation poller
	g, err := protect.New(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(g)
	if err != nil {
		t.Fatal(err)
	}
	return env, ordersv1.NewOrderServiceClient(tokens.Serve(t, srv))
}

// Each method lets in exactly the callers orders.proto names, with the
// error a client acts on for the others.
func TestOrders_Rules(t *testing.T) {
	env, orders := startOrders(t)
	env.AddUser(t, "alice", "alice's password")
	env.AddUser(t, "sam", "sam's password", "support")
	alice := env.Login(t, "alice", "alice's password")
	sam := env.Login(t, "sam", "sam's password")
	samLater := env.Refresh(t, sam.GetRefreshToken()) // not fresh
	billing := env.ClientToken(t, "billing", "orders:read")

	getOrder := func(ctx context.Context) error {
		_, err := orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o-1"})
		return err
	}
	listOrders := func(ctx context.Context) error {
		_, err := orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{})
		return err
	}
	cancelOrder := func(ctx context.Context) error {
		_, err := orders.CancelOrder(ctx, &ordersv1.CancelOrderRequest{Id: "o-1"})
		return err
	}
	for _, tc := range []struct {
		name   string
		call   func(context.Context) error
		token  string
		code   codes.Code
		reason string
	}{
		{"GetOrder: a user", getOrder, alice.GetAccessToken(), codes.OK, ""},
		{"GetOrder: a service account", getOrder, billing, codes.OK, ""},
		{"GetOrder: no token", getOrder, "", codes.Unauthenticated, wire.ReasonTokenMissing},
		{"GetOrder: a refresh token", getOrder, alice.GetRefreshToken(), codes.Unauthenticated, wire.ReasonWrongTokenType},
		{"ListOrders: scope orders:read", listOrders, billing, codes.OK, ""},
		{"ListOrders: a user has no scope", listOrders, alice.GetAccessToken(), codes.PermissionDenied, wire.ReasonInsufficientScope},
		{"CancelOrder: support, fresh", cancelOrder, sam.GetAccessToken(), codes.OK, ""},
		{"CancelOrder: support, not fresh", cancelOrder, samLater.GetAccessToken(), codes.Unauthenticated, wire.ReasonFreshTokenRequired},
		{"CancelOrder: no role", cancelOrder, alice.GetAccessToken(), codes.PermissionDenied, wire.ReasonInsufficientRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.token != "" {
				ctx = tokens.Bearer(ctx, tc.token)
			}
			err := tc.call(ctx)
			if tc.code == codes.OK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			tokens.WantRefusal(t, err, tc.code, tc.reason)
		})
	}
}

// A user logged out at authd is refused here once the service has polled
// authd's revocations (every 5 s).
func TestOrders_LoggedOutUserRefused(t *testing.T) {
	env, orders := startOrders(t)
	env.AddUser(t, "alice", "alice's password")
	alice := env.Login(t, "alice", "alice's password")
	ctx := tokens.Bearer(context.Background(), alice.GetAccessToken())
	if _, err := orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o-1"}); err != nil {
		t.Fatal(err)
	}
	env.Logout(t, alice.GetRefreshToken())
	// The poller waits on the fake clock: move it one interval on and wait
	// until the poller has polled and waits again.
	if !env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("the revocation poller is not waiting")
	}
	env.Clock.Advance(revocation.DefaultPollInterval)
	if !env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("no poll after the interval")
	}
	_, err := orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o-1"})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// What get does, over bufconn: package client logs in and its credentials
// carry the token to the order service.
func TestOrders_Client(t *testing.T) {
	env, _ := startOrders(t)
	env.AddUser(t, "alice", "alice's password")
	ctx := context.Background()
	c, err := client.New(ctx, env.Conn, client.Config{Insecure: true, Clock: env.Clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "alice's password"); err != nil {
		t.Fatal(err)
	}
	g, err := protect.New(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}, NoRevocationPolling: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(g)
	if err != nil {
		t.Fatal(err)
	}
	orders := ordersv1.NewOrderServiceClient(tokens.Serve(t, srv, c.DialOptions()...))
	order, err := orders.GetOrder(ctx, &ordersv1.GetOrderRequest{Id: "o-7"})
	if err != nil {
		t.Fatal(err)
	}
	if order.GetId() != "o-7" || order.GetViewer() != "alice" {
		t.Fatalf("GetOrder = %v", order)
	}
}

// The rules alone, without authd: tokens minted by package tokens and
// verified by its Issuer's verifier.
func TestOrders_RulesWithoutAuthd(t *testing.T) {
	iss := tokens.New(t)
	srv, err := newServer(guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, PublicHealthAndReflection: true}))
	if err != nil {
		t.Fatal(err)
	}
	orders := ordersv1.NewOrderServiceClient(tokens.Serve(t, srv))
	cancelAs := func(tok string) error {
		_, err := orders.CancelOrder(tokens.Bearer(context.Background(), tok), &ordersv1.CancelOrderRequest{Id: "o-1"})
		return err
	}
	if err := cancelAs(iss.FreshAccess(t, "sam", "s1", tokens.WithRoles("admin"))); err != nil {
		t.Fatalf("admin: %v", err)
	}
	tokens.WantRefusal(t, cancelAs(iss.FreshAccess(t, "sam", "s1", tokens.WithRoles("viewer"))), codes.PermissionDenied, wire.ReasonInsufficientRole)
	tokens.WantRefusal(t, cancelAs(iss.Expired(t, "sam", "s1", tokens.WithRoles("admin"))), codes.Unauthenticated, wire.ReasonTokenExpired)
}
