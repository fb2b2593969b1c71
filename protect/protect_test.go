package protect_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

const pw = "correct horse battery"

// world is the example greeter protected by protect.New against an
// in-process authd, on authd's fake clock.
type world struct {
	env     *authdtest.Env
	greeter examplev1.GreeterServiceClient
}

func newWorld(t *testing.T, opts ...protect.Option) *world {
	t.Helper()
	env := authdtest.New(t)
	env.AddUser(t, "alice", pw)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // ends the poller
	authn, err := protect.New(ctx, env.Conn, append([]protect.Option{protect.WithClock(env.Clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: env.Clock})
	if err := authn.CheckServer(srv); err != nil {
		t.Fatal(err)
	}
	return &world{env: env, greeter: examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))}
}

// advance moves the clock by d and, when the poller is running, waits for
// the poll that d triggers to finish (the poller arms its next timer after
// it).
func (w *world) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if !w.env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("the revocation poller is not waiting for its next poll")
	}
	w.env.Clock.Advance(d)
	if !w.env.Clock.WaitForTimers(1, 5*time.Second) {
		t.Fatal("the revocation poller did not come back from its poll")
	}
}

func (w *world) whoAmI(tok string, opts ...grpc.CallOption) (*examplev1.WhoAmIResponse, error) {
	return w.greeter.WhoAmI(authdtest.Bearer(context.Background(), tok), &examplev1.WhoAmIRequest{}, opts...)
}

// The default a minimal adopter gets: a logged-out session's access token,
// accepted a moment before, is refused once the next poll has run (5 s),
// not when the token expires 15 minutes later.
func TestNew_LoggedOutTokenRefusedAfterOnePoll(t *testing.T) {
	w := newWorld(t)
	login := w.env.Login(t, "alice", pw)
	if _, err := w.whoAmI(login.GetAccessToken()); err != nil {
		t.Fatalf("before logout: %v", err)
	}
	w.env.Logout(t, login.GetAccessToken())
	if _, err := w.whoAmI(login.GetAccessToken()); err != nil {
		t.Fatalf("after logout, before the poll: %v (this service only learns of the logout by polling)", err)
	}
	w.advance(t, revocation.DefaultPollInterval)
	_, err := w.whoAmI(login.GetAccessToken())
	authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// Without polling, the same token keeps working after the poll interval:
// the option is the only way to lose the guarantee above.
func TestNew_WithoutRevocationPollingAcceptsLoggedOutTokens(t *testing.T) {
	w := newWorld(t, protect.WithoutRevocationPolling())
	login := w.env.Login(t, "alice", pw)
	w.env.Logout(t, login.GetAccessToken())
	w.env.Clock.Advance(time.Minute)
	if _, err := w.whoAmI(login.GetAccessToken()); err != nil {
		t.Fatalf("WithoutRevocationPolling: %v, want the logged-out token accepted", err)
	}
}

// A token signed with authd's own key for a session authd never opened
// (a forged or invented sid) is refused: authd is asked once about a
// session met for the first time.
func TestNew_ForgedSessionRefused(t *testing.T) {
	w := newWorld(t)
	forged := w.env.Issuer.FreshAccess(t, "alice", "invented-session-id")
	if _, err := w.env.Verifier.Verify(context.Background(), forged); err != nil {
		t.Fatalf("the forged token must carry a valid signature for this test to mean anything: %v", err)
	}
	_, err := w.whoAmI(forged)
	authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// A token from another key is invalid, whatever its session.
func TestNew_UnknownKeyRefused(t *testing.T) {
	w := newWorld(t)
	other := authdtest.New(t)
	_, err := w.whoAmI(other.Issuer.FreshAccess(t, "alice", "s1"))
	authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
}

// Renewal is off unless asked for; with WithRenewal a call past half the
// token's life gets a renewed token of the same session in the
// x-access-token header.
func TestNew_Renewal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []protect.Option
		renew bool
	}{
		{"default", nil, false},
		{"WithRenewal", []protect.Option{protect.WithRenewal(0)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.opts...)
			login := w.env.Login(t, "alice", pw)
			w.advance(t, 8*time.Minute) // past half of 15 minutes
			var header metadata.MD
			if _, err := w.whoAmI(login.GetAccessToken(), grpc.Header(&header)); err != nil {
				t.Fatal(err)
			}
			renewed := header.Get(wire.RenewalHeader)
			if !tc.renew {
				if len(renewed) != 0 {
					t.Fatalf("renewed token without WithRenewal: %v", renewed)
				}
				return
			}
			if len(renewed) != 1 {
				t.Fatalf("%s = %v, want one renewed token", wire.RenewalHeader, renewed)
			}
			old, err := w.env.Verifier.Verify(context.Background(), login.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			c, err := w.env.Verifier.Verify(context.Background(), renewed[0])
			if err != nil {
				t.Fatalf("renewed token: %v", err)
			}
			if c.SessionID != old.SessionID || c.Subject != "alice" || !c.Expiry().After(old.Expiry()) {
				t.Fatalf("renewed claims %+v, old %+v", c, old)
			}
		})
	}
}

// A service that cannot reach authd does not start: New fails instead of
// serving with no keys and no revocations.
func TestNew_FailsWhenAuthdIsDown(t *testing.T) {
	lis := bufconn.Listen(1 << 10)
	lis.Close()
	conn, err := grpc.NewClient("passthrough:///authd",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	authn, err := protect.New(ctx, conn)
	if err == nil || authn != nil {
		t.Fatalf("New with authd down = %v, %v; want an error", authn, err)
	}
}

// Options that would silently weaken the setup are errors.
func TestNew_RefusesZeroPollInterval(t *testing.T) {
	env := authdtest.New(t)
	if _, err := protect.New(context.Background(), env.Conn, protect.WithPollInterval(0)); err == nil {
		t.Fatal("WithPollInterval(0) accepted")
	}
}

// Options passed through reach the Authenticator and win over protect's.
func TestNew_AuthenticatorOptionsPassThrough(t *testing.T) {
	w := newWorld(t, protect.WithAuthenticatorOptions(
		interceptors.WithMethod(examplev1.GreeterService_WhoAmI_FullMethodName, interceptors.FreshAccess)))
	login := w.env.Login(t, "alice", pw)
	refreshed := w.env.Refresh(t, login.GetRefreshToken())
	_, err := w.whoAmI(refreshed.GetAccessToken())
	authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
}
