package revocation_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// pollingWorld is authd and a greeter that learns of revocations by
// polling it, as a service holding only the JWKS does.
type pollingWorld struct {
	authd   *authdenv.Env
	poller  *revocation.Poller
	greeter examplev1.GreeterServiceClient
}

func newPollingWorld(t *testing.T, cfg revocation.Config) *pollingWorld {
	t.Helper()
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	w := &pollingWorld{authd: e}
	cfg.Clock = e.Clock
	w.poller = revocation.NewPoller(e.Conn, cfg)
	w.greeter = serveGreeter(t, e, w.poller)
	return w
}

// serveGreeter serves the example greeter, verifying e's tokens and
// checking their sessions with revs.
func serveGreeter(t *testing.T, e *authdenv.Env, revs guard.Revocations) examplev1.GreeterServiceClient {
	t.Helper()
	g := guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: revs, Clock: e.Clock})
	srv, err := greeter.NewServer(g, e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
}

func (w *pollingWorld) whoAmI(tok string) error {
	_, err := w.greeter.WhoAmI(tokens.Bearer(bg, tok), &examplev1.WhoAmIRequest{})
	return err
}

// run starts the poller's loop and waits until it is waiting on the clock.
func (w *pollingWorld) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	t.Cleanup(cancel)
	go w.poller.Run(ctx, nil)
}

// tick moves the clock one poll interval and waits for the poll to land.
func (w *pollingWorld) tick(t *testing.T, interval time.Duration) {
	t.Helper()
	if !w.authd.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("poller is not waiting on the clock")
	}
	w.authd.Clock.Advance(interval)
	// The poll runs on the poller's goroutine; wait for it to schedule the
	// next one, which it does once the poll is done.
	if !w.authd.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("poll did not finish")
	}
}

func TestRevocationPoller_RevokedSessionRefusedWithinAnInterval(t *testing.T) {
	w := newPollingWorld(t, revocation.Config{})
	e := w.authd
	if err := w.whoAmI("x"); err == nil {
		t.Fatal("a garbage token passed")
	}
	kept, gone := e.Login(t, "alice", "pw"), e.Login(t, "alice", "pw")
	// Before the first poll the list is unknown: fail closed.
	tokens.WantRefusal(t, w.whoAmI(kept.AccessToken), codes.Unavailable, "")
	if err := w.poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	w.run(t)
	if err := w.whoAmI(gone.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Logout with the refresh token: the access token is refused at the
	// greeter after the next poll.
	if _, err := e.Client.Logout(tokens.Bearer(bg, gone.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	w.tick(t, 5*time.Second)
	tokens.WantRefusal(t, w.whoAmI(gone.AccessToken), codes.Unauthenticated, wire.ReasonTokenRevoked)
	if err := w.whoAmI(kept.AccessToken); err != nil {
		t.Fatalf("another session of the same user: %v", err)
	}
}

func TestRevocationPoller_PagesAndOverlap(t *testing.T) {
	w := newPollingWorld(t, revocation.Config{PageSize: 2})
	e := w.authd
	var sessions []*authv1.LoginResponse
	for range 7 {
		sessions = append(sessions, e.Login(t, "alice", "pw"))
	}
	for _, s := range sessions[:5] {
		if _, err := e.Client.Logout(tokens.Bearer(bg, s.AccessToken), &authv1.LogoutRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions {
		err := w.whoAmI(s.AccessToken)
		if i < 5 {
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		} else if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	// A revocation in the same second as the last poll's answer is still
	// picked up by the next poll.
	if _, err := e.Client.Logout(tokens.Bearer(bg, sessions[5].AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := w.poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	tokens.WantRefusal(t, w.whoAmI(sessions[5].AccessToken), codes.Unauthenticated, wire.ReasonTokenRevoked)
}

func TestRevocationPoller_FailsClosedWhenStale(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	var down atomic.Bool
	conn := failingConn{ClientConnInterface: e.Conn, down: &down}
	poller := revocation.NewPoller(conn, revocation.Config{Clock: e.Clock, MaxStaleness: time.Minute})
	g := serveGreeter(t, e, poller)
	call := func() error {
		_, err := g.WhoAmI(tokens.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{})
		return err
	}
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if err := call(); err != nil { // the session is met, and checked, while authd is up
		t.Fatal(err)
	}
	down.Store(true)
	e.Clock.Advance(59 * time.Second)
	if err := poller.Poll(bg); err == nil {
		t.Fatal("poll succeeded with authd down")
	}
	if err := call(); err != nil {
		t.Fatalf("within the staleness limit: %v", err)
	}
	e.Clock.Advance(2 * time.Second)
	tokens.WantRefusal(t, call(), codes.Unavailable, "")
	down.Store(false)
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	if err := call(); err != nil {
		t.Fatalf("after authd came back: %v", err)
	}
}

// A token whose session authd does not know — forged with a stolen key,
// say — is refused by a JWKS consumer as authd refuses it: the Poller asks
// CheckSession once per session it meets, and fails closed when it cannot.
func TestRevocationPoller_UnknownSessionRefused(t *testing.T) {
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw")
	login := e.Login(t, "alice", "pw")
	var down atomic.Bool
	counting := &countingChecks{failingConn: failingConn{ClientConnInterface: e.Conn, down: &down}}
	poller := revocation.NewPoller(counting, revocation.Config{Clock: e.Clock})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	g := serveGreeter(t, e, poller)
	call := func(tok string) error {
		_, err := g.WhoAmI(tokens.Bearer(bg, tok), &examplev1.WhoAmIRequest{})
		return err
	}
	for range 5 {
		if err := call(login.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.checks.Load(); n != 1 {
		t.Fatalf("%d CheckSession calls for one session, want 1", n)
	}
	// Signed with authd's own key, as a thief of the key would: valid in
	// every way but its session.
	c, err := e.Verifier.Verify(bg, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	forged := *c
	forged.SessionID, forged.ID = "aW52ZW50ZWQtc2Vzc2lvbg", "forged"
	raw, err := e.Signer.Sign(forged)
	if err != nil {
		t.Fatal(err)
	}
	_, authdErr := e.Client.Verify(bg, &authv1.VerifyRequest{Token: raw})
	tokens.WantRefusal(t, authdErr, codes.Unauthenticated, wire.ReasonTokenRevoked)
	tokens.WantRefusal(t, call(raw), codes.Unauthenticated, wire.ReasonTokenRevoked)
	// A session met while authd is down cannot be checked: fail closed.
	other := e.Login(t, "alice", "pw")
	down.Store(true)
	tokens.WantRefusal(t, call(other.AccessToken), codes.Unavailable, "")
	if err := call(login.AccessToken); err != nil {
		t.Fatalf("a session checked before the outage: %v", err)
	}
}

// countingChecks counts CheckSession calls.
type countingChecks struct {
	failingConn
	checks atomic.Int64
}

func (c *countingChecks) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if method == "/auth.v1.AuthService/CheckSession" {
		c.checks.Add(1)
	}
	return c.failingConn.Invoke(ctx, method, args, reply, opts...)
}

// failingConn fails every call while down is set.
type failingConn struct {
	grpc.ClientConnInterface
	down *atomic.Bool
}

func (c failingConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if c.down.Load() {
		return status.Error(codes.Unavailable, "authd is down")
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

var bg = context.Background()
