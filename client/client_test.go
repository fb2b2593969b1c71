package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

var bg = context.Background()

const refreshMethod = "/auth.v1.AuthService/Refresh"

// countingConn counts the Refresh RPCs the client makes to authd.
// countingConn counts the Refresh RPCs the client makes to authd, and fails
// them with Unavailable while down is set.
type countingConn struct {
	grpc.ClientConnInterface
	refreshes atomic.Int64
	down      atomic.Bool
}

func (c *countingConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if method == refreshMethod {
		c.refreshes.Add(1)
		if c.down.Load() {
			return status.Error(codes.Unavailable, "authd is down")
		}
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

type setup struct {
	sessionMax  time.Duration
	renewer     string      // "", "in-process" or "remote"
	clientClock clock.Clock // nil: authd's clock
	store       client.TokenStore
	greeter     examplev1.GreeterServiceServer // nil: the example greeter behind the interceptors
	// config, when set, changes the client's Config before New.
	config func(*client.Config)
	// methods are Go rules of the example greeter's Guard beside greeter.proto's.
	methods map[string]guard.Rule
}

// fixture is authd, a greeter, and a client of both logged in as alice.
type fixture struct {
	authd   *authdenv.Env
	auth    *countingConn
	client  *client.Client
	greeter examplev1.GreeterServiceClient

	mu            sync.Mutex
	loginRequired []error
}

func newFixture(t *testing.T, s setup) *fixture {
	t.Helper()
	e := authdenv.New(t, func(o *authdenv.Options) { o.Session.SessionMax = s.sessionMax })
	e.AddUser(t, "alice", "pw")
	e.AddUser(t, "bob", "pw")
	f := &fixture{authd: e, auth: &countingConn{ClientConnInterface: e.Conn}}

	cfg := client.Config{
		Insecure: true,
		Clock:    e.Clock,
		Store:    s.store,
		OnLoginRequired: func(_ context.Context, err error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.loginRequired = append(f.loginRequired, err)
		},
	}
	if s.clientClock != nil {
		cfg.Clock = s.clientClock
	}
	if s.config != nil {
		s.config(&cfg)
	}
	c, err := client.New(bg, f.auth, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.client = c

	var srv *grpc.Server
	if s.greeter != nil {
		srv = grpc.NewServer()
		examplev1.RegisterGreeterServiceServer(srv, s.greeter)
	} else {
		gcfg := guard.Config{PublicHealthAndReflection: true, Revocations: e.Sessions, Clock: e.Clock, Methods: s.methods}
		switch s.renewer {
		case "in-process":
			gcfg.Renewer = e.Sessions
		case "remote":
			gcfg.Renewer = protect.RemoteRenewer(e.Conn)
		}
		if srv, err = greeter.NewServer(guard.New(e.Verifier, gcfg), e.Clock); err != nil {
			t.Fatal(err)
		}
	}
	f.greeter = examplev1.NewGreeterServiceClient(tokens.Serve(t, srv, c.DialOptions()...))
	if s.store == nil || c.Tokens() == (client.Tokens{}) {
		if err := c.Login(bg, "alice", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) logins() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.loginRequired...)
}

func (f *fixture) whoAmI() (*examplev1.WhoAmIResponse, error) {
	return f.greeter.WhoAmI(bg, &examplev1.WhoAmIRequest{})
}

// renewAtAuthd moves a minute on and has authd renew the client's access
// token mine, as a consumer's renewer would: the renewed token.
func (f *fixture) renewAtAuthd(t *testing.T, mine string) string {
	t.Helper()
	f.authd.Clock.Advance(time.Minute)
	renewed, err := f.authd.Client.Renew(tokens.Bearer(bg, mine), &authv1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return renewed.AccessToken
}

// handBack makes one call through the greeter that answers with renewal
// in slot as its x-access-token header.
func (f *fixture) handBack(t *testing.T, slot *atomic.Value, renewal string) {
	t.Helper()
	slot.Store(renewal)
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
}

func TestLongSession_SlidesUntilTheCap(t *testing.T) {
	for _, renewer := range []string{"in-process", "remote"} {
		t.Run(renewer, func(t *testing.T) {
			const sessionMax = 3 * time.Hour
			f := newFixture(t, setup{sessionMax: sessionMax, renewer: renewer})
			e := f.authd
			first, err := f.whoAmI()
			if err != nil {
				t.Fatal(err)
			}
			sessionCap := e.Clock.Now().Add(sessionMax)

			// Calls a minute apart slide by renewal headers; the 20-minute
			// gaps outlive the access token, so the client refreshes.
			var steps []time.Duration
			for range 30 {
				steps = append(steps, time.Minute)
			}
			steps = append(steps, 20*time.Minute)
			var calls, renewals int
			for i := 0; ; i++ {
				step := steps[i%len(steps)]
				if !e.Clock.Now().Add(step).Before(sessionCap) {
					break
				}
				e.Clock.Advance(step)
				before, refreshes := f.client.Tokens().Access, f.auth.refreshes.Load()
				resp, err := f.whoAmI()
				if err != nil {
					t.Fatalf("call at +%v: %v", e.Clock.Now().Sub(tokens.Start), err)
				}
				if resp.Subject != "alice" || resp.Sid != first.Sid {
					t.Fatalf("call at +%v: subject %q sid %q; want alice in session %q", e.Clock.Now().Sub(tokens.Start), resp.Subject, resp.Sid, first.Sid)
				}
				calls++
				if f.client.Tokens().Access != before && f.auth.refreshes.Load() == refreshes {
					renewals++
				}
			}
			if renewals == 0 || f.auth.refreshes.Load() == 0 {
				t.Fatalf("%d calls used %d header renewals and %d refreshes; want both kinds", calls, renewals, f.auth.refreshes.Load())
			}
			if n := len(f.logins()); n != 0 {
				t.Fatalf("OnLoginRequired called %d times within the session", n)
			}
			t.Logf("%d calls over 3h: %d header renewals, %d refreshes", calls, renewals, f.auth.refreshes.Load())

			// At the cap nothing renews or refreshes: the user logs in again.
			e.Clock.Advance(sessionCap.Sub(e.Clock.Now()))
			_, err = f.whoAmI()
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("call at the cap: %v, want Unauthenticated", err)
			}
			if got := f.logins(); len(got) != 1 || status.Code(got[0]) != codes.Unauthenticated {
				t.Fatalf("OnLoginRequired calls = %v, want one", got)
			}
			if f.client.Tokens() != (client.Tokens{}) {
				t.Fatal("tokens of the ended session kept")
			}
			if err := f.client.Login(bg, "alice", "pw"); err != nil {
				t.Fatal(err)
			}
			if resp, err := f.whoAmI(); err != nil || resp.Sid == first.Sid {
				t.Fatalf("after a new login: %v, %v; want a new session", resp, err)
			}
		})
	}
}

// concurrently runs n calls of f at once and returns their errors.
func concurrently(n int, call func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = call()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func TestSingleFlight(t *testing.T) {
	t.Run("proactive", func(t *testing.T) {
		f := newFixture(t, setup{})
		f.authd.Clock.Advance(16 * time.Minute) // the access token has expired
		for i, err := range concurrently(100, func() error { _, err := f.whoAmI(); return err }) {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if n := f.auth.refreshes.Load(); n != 1 {
			t.Fatalf("%d Refresh RPCs for 100 callers, want 1", n)
		}
	})
	t.Run("reactive", func(t *testing.T) {
		// The client's clock is behind: it believes the token is good, the
		// service says it has expired.
		f := newFixture(t, setup{clientClock: clock.NewFake(tokens.Start)})
		f.authd.Clock.Advance(16 * time.Minute)
		for i, err := range concurrently(100, func() error { _, err := f.whoAmI(); return err }) {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if n := f.auth.refreshes.Load(); n != 1 {
			t.Fatalf("%d Refresh RPCs for 100 callers, want 1", n)
		}
	})
}

// Within the refresh margin of exp (1 min) the client refreshes before
// calling; when authd cannot be reached the still-valid token is used.
func TestProactiveRefresh_WithinMargin(t *testing.T) {
	f := newFixture(t, setup{})
	before := f.client.Tokens().Access
	f.authd.Clock.Advance(13 * time.Minute)
	if _, err := f.whoAmI(); err != nil || f.auth.refreshes.Load() != 0 || f.client.Tokens().Access != before {
		t.Fatalf("2 minutes before exp: %v, %d refreshes; want the same token and no refresh", err, f.auth.refreshes.Load())
	}
	f.auth.down.Store(true)
	f.authd.Clock.Advance(90 * time.Second) // 30 s before exp
	if _, err := f.whoAmI(); err != nil {
		t.Fatalf("a failed proactive refresh failed the call: %v", err)
	}
	if f.auth.refreshes.Load() != 1 || f.client.Tokens().Access != before || len(f.logins()) != 0 {
		t.Fatalf("%d refreshes, token changed %v, %d callbacks; want one attempt, the old token, no callback",
			f.auth.refreshes.Load(), f.client.Tokens().Access != before, len(f.logins()))
	}
	f.auth.down.Store(false)
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if f.auth.refreshes.Load() != 2 || f.client.Tokens().Access == before {
		t.Fatal("the proactive refresh did not happen once authd was back")
	}
}

// stubGreeter answers WhoAmI with whatever its function says, counting calls.
type stubGreeter struct {
	examplev1.UnimplementedGreeterServiceServer
	calls atomic.Int64
	who   func(ctx context.Context) error
}

func (s *stubGreeter) WhoAmI(ctx context.Context, _ *examplev1.WhoAmIRequest) (*examplev1.WhoAmIResponse, error) {
	s.calls.Add(1)
	if err := s.who(ctx); err != nil {
		return nil, err
	}
	return &examplev1.WhoAmIResponse{Subject: "stub"}, nil
}

func TestRetry(t *testing.T) {
	cases := []struct {
		name          string
		err           error
		wantCalls     int64
		wantRefreshes int64
		wantLogin     bool
		wantTokens    bool
	}{
		{"expired every time: one retry, no loop", wire.StatusError(token.ErrExpired), 2, 1, false, true},
		{"not an auth error", status.Error(codes.PermissionDenied, "no"), 1, 0, false, true},
		{"unavailable", status.Error(codes.Unavailable, "down"), 1, 0, false, true},
		{"invalid token", wire.StatusError(token.ErrInvalid), 1, 0, false, true},
		{"revoked: no refresh, login required", wire.StatusError(guard.ErrRevoked), 1, 0, true, false},
		{"fresh required: no refresh, login required", wire.StatusError(guard.ErrFreshRequired), 1, 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stub := &stubGreeter{who: func(context.Context) error { return tc.err }}
			f := newFixture(t, setup{greeter: stub})
			_, err := f.whoAmI()
			if status.Code(err) != status.Code(tc.err) || wire.Reason(err) != wire.Reason(tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if n := stub.calls.Load(); n != tc.wantCalls {
				t.Fatalf("%d calls reached the service, want %d", n, tc.wantCalls)
			}
			if n := f.auth.refreshes.Load(); n != tc.wantRefreshes {
				t.Fatalf("%d Refresh RPCs, want %d", n, tc.wantRefreshes)
			}
			if got := len(f.logins()) == 1; got != tc.wantLogin {
				t.Fatalf("OnLoginRequired calls = %v, want called: %v", f.logins(), tc.wantLogin)
			}
			if got := f.client.Tokens() != (client.Tokens{}); got != tc.wantTokens {
				t.Fatalf("tokens kept = %v, want %v", got, tc.wantTokens)
			}
		})
	}
}

func TestRetry_UsesTheRefreshedToken(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	stub := &stubGreeter{}
	stub.who = func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, md.Get("authorization")...)
		if len(seen) == 1 {
			return wire.StatusError(token.ErrExpired)
		}
		return nil
	}
	f := newFixture(t, setup{greeter: stub})
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] == seen[1] || seen[1] != "Bearer "+f.client.Tokens().Access {
		t.Fatalf("authorization sent = %q; want the old token, then the refreshed one", seen)
	}
}

func TestFreshRequired_CallsOnLoginRequired(t *testing.T) {
	f := newFixture(t, setup{renewer: "in-process"})
	f.authd.Clock.Advance(8 * time.Minute)
	if _, err := f.whoAmI(); err != nil { // picks up a non-fresh renewal
		t.Fatal(err)
	}
	_, err := f.greeter.DeleteAccount(bg, &examplev1.DeleteAccountRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
	if got := f.logins(); len(got) != 1 || wire.Reason(got[0]) != wire.ReasonFreshTokenRequired {
		t.Fatalf("OnLoginRequired calls = %v", got)
	}
	if f.auth.refreshes.Load() != 0 {
		t.Fatal("refreshed on FRESH_TOKEN_REQUIRED")
	}
	if _, err := f.whoAmI(); err != nil {
		t.Fatalf("the session should live on for non-fresh methods: %v", err)
	}
}

func TestRevokedSession_DeadRefreshToken(t *testing.T) {
	f := newFixture(t, setup{})
	if _, err := f.authd.Client.Logout(tokens.Bearer(bg, f.client.Tokens().Access), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	f.authd.Clock.Advance(16 * time.Minute)
	_, err := f.whoAmI()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	if got := f.logins(); len(got) != 1 {
		t.Fatalf("OnLoginRequired calls = %v, want one", got)
	}
	if f.client.Tokens() != (client.Tokens{}) {
		t.Fatal("tokens of a revoked session kept")
	}
	// Without a session, calls go out without a token: no refresh, no callback.
	_, err = f.whoAmI()
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
	if len(f.logins()) != 1 || f.auth.refreshes.Load() != 1 {
		t.Fatalf("after the session ended: %d callbacks, %d refreshes", len(f.logins()), f.auth.refreshes.Load())
	}
	if resp, err := f.greeter.Hello(bg, &examplev1.HelloRequest{}); err != nil || resp.Message == "" {
		t.Fatalf("public method without a session: %v, %v", resp, err)
	}
}

func TestStream_ReopenedOnceWithRefreshedToken(t *testing.T) {
	f := newFixture(t, setup{clientClock: clock.NewFake(tokens.Start)})
	f.authd.Clock.Advance(16 * time.Minute)
	stream, err := f.greeter.Ticks(bg, &examplev1.TicksRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	tick, err := stream.Recv()
	if err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	if tick.N != 1 || tick.Subject != "alice" {
		t.Fatalf("tick = %v", tick)
	}
	if n := f.auth.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
}

func TestStream_PicksUpRenewal(t *testing.T) {
	f := newFixture(t, setup{renewer: "remote"})
	before := f.client.Tokens().Access
	f.authd.Clock.Advance(9 * time.Minute)
	stream, err := f.greeter.Ticks(bg, &examplev1.TicksRequest{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if f.client.Tokens().Access == before {
		t.Fatal("the renewal header of a stream was not adopted")
	}
}

func TestAdopt_OnlyRenewalsOfTheSameSession(t *testing.T) {
	var header atomic.Value
	stub := &stubGreeter{who: func(ctx context.Context) error {
		return grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, header.Load().(string)))
	}}
	f := newFixture(t, setup{greeter: stub})
	e := f.authd
	mine := f.client.Tokens()
	e.Clock.Advance(time.Minute)
	bob := e.Login(t, "bob", "pw")
	otherSession := e.Login(t, "alice", "pw")
	renewed, err := e.Client.Renew(tokens.Bearer(bg, mine.Access), &authv1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"another user":         bob.AccessToken,
		"another session":      otherSession.AccessToken,
		"a refresh token":      mine.Refresh,
		"garbage":              "not.a.jwt",
		"oversized":            strings.Repeat("a", token.MaxLength+1),
		"the same token again": mine.Access,
	} {
		header.Store(tok)
		if _, err := f.whoAmI(); err != nil {
			t.Fatal(err)
		}
		if f.client.Tokens() != mine {
			t.Fatalf("adopted %s from a response header", name)
		}
	}
	header.Store(renewed.AccessToken)
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if got := f.client.Tokens(); got.Access != renewed.AccessToken || got.Refresh != mine.Refresh {
		t.Fatal("a renewal of the same session was not adopted")
	}
}

func TestFileStore_PersistsAcrossRunsAndRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	f := newFixture(t, setup{store: client.FileStore{Path: path}})
	saved := readTokens(t, path)
	if saved != f.client.Tokens() || saved.Refresh == "" {
		t.Fatalf("file holds %+v, client %+v", saved, f.client.Tokens())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v, %v; want 0600", fi.Mode(), err)
	}

	// A second run of the application picks the session up from the file.
	next, err := client.New(bg, f.auth, client.Config{Insecure: true, Clock: f.authd.Clock, Store: client.FileStore{Path: path}})
	if err != nil {
		t.Fatal(err)
	}
	if next.Tokens() != saved {
		t.Fatal("second run did not load the saved tokens")
	}
	f.authd.Clock.Advance(16 * time.Minute)
	tok, err := next.Token(bg)
	if err != nil || tok == "" || tok == saved.Access {
		t.Fatalf("Token after expiry: %q, %v; want a refreshed token", tok, err)
	}
	rotated := readTokens(t, path)
	if rotated.Refresh == saved.Refresh || rotated != next.Tokens() {
		t.Fatalf("rotation not persisted: file %+v, client %+v", rotated, next.Tokens())
	}
	if err := next.Logout(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("token file after logout: %v", err)
	}
	_, err = f.authd.Client.Refresh(tokens.Bearer(bg, rotated.Refresh), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
}

func readTokens(t *testing.T, path string) client.Tokens {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tok client.Tokens
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCredentialsRequireTransportSecurity(t *testing.T) {
	e := authdtest.New(t)
	c, err := client.New(bg, e.Conn, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///bufnet", append(c.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err == nil {
		conn.Close()
		t.Fatal("credentials accepted over an insecure connection")
	}
}
