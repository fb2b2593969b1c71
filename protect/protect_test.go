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

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

const pw = "correct horse battery"

// world is the example greeter protected by protect.New against an
// in-process authd, on authd's fake clock.
type world struct {
	env     *authdtest.Env
	greeter examplev1.GreeterServiceClient
}

func newWorld(t *testing.T, cfg protect.Config) *world {
	t.Helper()
	env := authdtest.New(t)
	env.AddUser(t, "alice", pw)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // ends the poller
	cfg.Guard.Clock = env.Clock
	g, err := protect.New(ctx, env.Conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	authn := interceptors.New(g)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: env.Clock})
	if err := authn.CheckServer(srv); err != nil {
		t.Fatal(err)
	}
	return &world{env: env, greeter: examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))}
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
	return w.greeter.WhoAmI(tokens.Bearer(context.Background(), tok), &examplev1.WhoAmIRequest{}, opts...)
}

// The default a minimal adopter gets: a logged-out session's access token,
// accepted a moment before, is refused once the next poll has run (5 s),
// not when the token expires 15 minutes later.
func TestNew_LoggedOutTokenRefusedAfterOnePoll(t *testing.T) {
	w := newWorld(t, protect.Config{})
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
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// Without polling, the same token keeps working after the poll interval:
// the setting is the only way to lose the guarantee above.
func TestNew_NoRevocationPollingAcceptsLoggedOutTokens(t *testing.T) {
	w := newWorld(t, protect.Config{NoRevocationPolling: true})
	login := w.env.Login(t, "alice", pw)
	w.env.Logout(t, login.GetAccessToken())
	w.env.Clock.Advance(time.Minute)
	if _, err := w.whoAmI(login.GetAccessToken()); err != nil {
		t.Fatalf("NoRevocationPolling: %v, want the logged-out token accepted", err)
	}
}

// A token signed with authd's own key for a session authd never opened
// (a forged or invented sid) is refused: authd is asked once about a
// session met for the first time.
func TestNew_ForgedSessionRefused(t *testing.T) {
	w := newWorld(t, protect.Config{})
	forged := w.env.Issuer.FreshAccess(t, "alice", "invented-session-id")
	if _, err := w.env.Issuer.Verifier.Verify(context.Background(), forged); err != nil {
		t.Fatalf("the forged token must carry a valid signature for this test to mean anything: %v", err)
	}
	_, err := w.whoAmI(forged)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// A token from another key is invalid, whatever its session.
func TestNew_UnknownKeyRefused(t *testing.T) {
	w := newWorld(t, protect.Config{})
	other := authdtest.New(t)
	_, err := w.whoAmI(other.Issuer.FreshAccess(t, "alice", "s1"))
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
}

// Renewal is off unless asked for; with Renewal a call past half the
// token's life gets a renewed token of the same session in the
// x-access-token header.
func TestNew_Renewal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   protect.Config
		renew bool
	}{
		{"default", protect.Config{}, false},
		{"Renewal", protect.Config{Renewal: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.cfg)
			login := w.env.Login(t, "alice", pw)
			w.advance(t, 8*time.Minute) // past half of 15 minutes
			var header metadata.MD
			if _, err := w.whoAmI(login.GetAccessToken(), grpc.Header(&header)); err != nil {
				t.Fatal(err)
			}
			renewed := header.Get(wire.RenewalHeader)
			if !tc.renew {
				if len(renewed) != 0 {
					t.Fatalf("renewed token without Renewal: %v", renewed)
				}
				return
			}
			if len(renewed) != 1 {
				t.Fatalf("%s = %v, want one renewed token", wire.RenewalHeader, renewed)
			}
			old, err := w.env.Issuer.Verifier.Verify(context.Background(), login.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			c, err := w.env.Issuer.Verifier.Verify(context.Background(), renewed[0])
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
	g, err := protect.New(ctx, conn, protect.Config{})
	if err == nil || g != nil {
		t.Fatalf("New with authd down = %v, %v; want an error", g, err)
	}
}

// Settings that would silently weaken the setup are errors. (A zero
// interval is the default, 5 s.)
func TestNew_RefusesNegativePollInterval(t *testing.T) {
	env := authdtest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := protect.New(ctx, env.Conn, protect.Config{Revocation: revocation.Config{Interval: -time.Second}}); err == nil {
		t.Fatal("Revocation.Interval -1s accepted")
	}
}

// The Guard's settings pass through to the Guard and win over the
// methods' declarations.
func TestNew_GuardConfigPassesThrough(t *testing.T) {
	w := newWorld(t, protect.Config{Guard: guard.Config{Methods: map[string]guard.Rule{
		examplev1.GreeterService_WhoAmI_FullMethodName: {Requirement: guard.FreshAccess},
	}}})
	login := w.env.Login(t, "alice", pw)
	refreshed := w.env.Refresh(t, login.GetRefreshToken())
	_, err := w.whoAmI(refreshed.GetAccessToken())
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
}

// sessionOf returns the claims of a token of a real session of alice, so
// that a token minted with them passes the revocation check.
func (w *world) sessionOf(t *testing.T) token.Claims {
	t.Helper()
	login := w.env.Login(t, "alice", pw)
	c, err := w.env.Issuer.Verifier.Verify(context.Background(), login.GetAccessToken())
	if err != nil {
		t.Fatal(err)
	}
	return *c
}

// SessionMax refuses a token whose exp is further away than it, as one
// minted with a stolen key to outlive every real session would be, even
// of a live session; one at the limit is accepted.
func TestNew_SessionMaxRefusesTokensThatOutliveIt(t *testing.T) {
	const sessionMax = 2 * time.Hour
	w := newWorld(t, protect.Config{SessionMax: sessionMax})
	now := w.env.Clock.Now()
	for _, tc := range []struct {
		name   string
		exp    time.Duration
		reason string // "": accepted
	}{
		{"exp at SessionMax", sessionMax, ""},
		{"exp past SessionMax", sessionMax + time.Second, wire.ReasonTokenInvalid},
		{"exp a day away", 24 * time.Hour, wire.ReasonTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := w.sessionOf(t)
			c.ID, c.ExpiresAt = token.NewID(), jwt.NewNumericDate(now.Add(tc.exp))
			_, err := w.whoAmI(w.env.Issuer.Sign(t, c))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("exp %v away: %v; want accepted", tc.exp, err)
				}
				return
			}
			tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
		})
	}
	// The default (token.DefaultMaxLifetime, 168 h) accepts the day.
	def := newWorld(t, protect.Config{})
	c := def.sessionOf(t)
	c.ID, c.ExpiresAt = token.NewID(), jwt.NewNumericDate(def.env.Clock.Now().Add(24*time.Hour))
	if _, err := def.whoAmI(def.env.Issuer.Sign(t, c)); err != nil {
		t.Fatalf("exp a day away, default SessionMax: %v; want accepted", err)
	}
}

// Leeway tolerates clock skew between authd and the service: a token
// that expired less than Leeway ago is still accepted, not one past it;
// without Leeway, none is.
func TestNew_LeewayToleratesClockSkewOnExp(t *testing.T) {
	const leeway = 30 * time.Second
	for _, tc := range []struct {
		name    string
		leeway  time.Duration
		expired time.Duration // how long ago the token expired
		reason  string        // "": accepted
	}{
		{"no leeway, expired 1s ago", 0, time.Second, wire.ReasonTokenExpired},
		{"leeway, expired 1s ago", leeway, time.Second, ""},
		{"leeway, expired just within it", leeway, leeway - time.Second, ""},
		{"leeway, expired past it", leeway, leeway + time.Second, wire.ReasonTokenExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, protect.Config{Leeway: tc.leeway})
			c := w.sessionOf(t)
			now := w.env.Clock.Now()
			c.ID = token.NewID()
			c.IssuedAt = jwt.NewNumericDate(now.Add(-tokens.AccessTTL - tc.expired))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-tc.expired))
			_, err := w.whoAmI(w.env.Issuer.Sign(t, c))
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("expired %v ago with leeway %v: %v; want accepted", tc.expired, tc.leeway, err)
				}
				return
			}
			tokens.WantRefusal(t, err, codes.Unauthenticated, tc.reason)
		})
	}
}
