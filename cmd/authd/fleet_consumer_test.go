package main

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation"
)

// fleetConn is one connection to every authd of a fleet, round robin,
// as a consumer should dial them (README "A fleet"): a call fails over to
// the instances that answer.
func fleetConn(t *testing.T, addrs ...string) *grpc.ClientConn {
	t.Helper()
	r := manual.NewBuilderWithScheme("authd-fleet")
	var state resolver.State
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	conn, err := grpc.NewClient(r.Scheme()+":///authd", dialInsecure, grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// protectedGreeter serves the example greeter in-process, protected by a
// Guard from protect.New over conn, polling revocations every 100 ms.
func protectedGreeter(t *testing.T, conn *grpc.ClientConn) examplev1.GreeterServiceClient {
	t.Helper()
	// The Guard polls for as long as its context lives: the test's.
	g, err := protect.New(t.Context(), conn, protect.Config{Revocation: revocation.Config{Interval: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(g, clock.System())
	if err != nil {
		t.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
}

// A consumer pointed at one authd shares its outages; pointed at the
// fleet it does not. With A killed, a session opened on B (which the
// consumer must check with CheckSession) is refused UNAVAILABLE by the
// consumer that knows only A, and served by the one that knows both; a
// logout on B still reaches it through B.
func TestE2E_ConsumerPointedAtTheFleetOutlivesAnInstance(t *testing.T) {
	t.Parallel()
	env := []string{"AUTHD_DB=" + pgschema.ForTest(t, "authd_e2e"), "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}
	data := t.TempDir()
	if _, errOut, code := authdWith(t, env, data, "long enough pw\n", "user", "add", "erin", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	a, b := startProcess(t, data, env), startProcess(t, data, env)
	onlyA := protectedGreeter(t, dial(t, a.addr))
	fleet := protectedGreeter(t, fleetConn(t, a.addr, b.addr))

	a.cmd.Process.Kill()
	a.cmd.Wait()

	authB := authv1.NewAuthServiceClient(dial(t, b.addr))
	login, err := authB.Login(bg, &authv1.LoginRequest{Username: "erin", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	call := tokens.Bearer(bg, login.AccessToken)
	if _, err := onlyA.WhoAmI(call, &examplev1.WhoAmIRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("the consumer of A alone, A down: %v; want UNAVAILABLE (it shares A's outage)", err)
	}
	if _, err := fleet.WhoAmI(call, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("the consumer of the fleet, A down: %v", err)
	}
	if _, err := authB.Logout(tokens.Bearer(bg, login.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := fleet.WhoAmI(call, &examplev1.WhoAmIRequest{})
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet's consumer after a logout on B: %v; want TOKEN_REVOKED within its poll", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
