package client_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/wire"
)

// The client refreshes a token once the clock is within
// Config.RefreshMargin of its exp, not before, and only once: the new
// token is not due.
func TestRefreshMargin_RefreshesOnceWithinTheMargin(t *testing.T) {
	const margin = 5 * time.Minute // the default is 1 minute
	f := newFixture(t, setup{config: func(c *client.Config) { c.RefreshMargin = margin }})
	before := f.client.Tokens().Access

	f.authd.Clock.Advance(tokens.AccessTTL - margin - time.Second)
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if n := f.auth.refreshes.Load(); n != 0 || f.client.Tokens().Access != before {
		t.Fatalf("a second before the margin: %d refreshes, token changed %v; want neither", n, f.client.Tokens().Access != before)
	}

	f.authd.Clock.Advance(time.Second)
	if _, err := f.whoAmI(); err != nil {
		t.Fatal(err)
	}
	if n := f.auth.refreshes.Load(); n != 1 || f.client.Tokens().Access == before {
		t.Fatalf("at the margin: %d refreshes, token changed %v; want one refresh and a new token", n, f.client.Tokens().Access != before)
	}
	after := f.client.Tokens().Access
	for range 3 {
		if _, err := f.whoAmI(); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.auth.refreshes.Load(); n != 1 || f.client.Tokens().Access != after {
		t.Fatalf("after the refresh: %d refreshes; want still one, and the refreshed token", n)
	}
}

// A renewal header is adopted only when the renewed token carries the iss
// and aud the client is configured with: authd's (default "authd") are
// adopted by a default client, not by one expecting another issuer or
// audience.
func TestAdopt_OnlyRenewalsOfTheConfiguredIssuerAndAudience(t *testing.T) {
	for _, tc := range []struct {
		name         string
		issuer, aud  string
		wantAdoption bool
	}{
		{"default", "", "", true},
		{"authd's, explicitly", "authd", "authd", true},
		{"another issuer", "other", "", false},
		{"another audience", "", "other", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header atomic.Value
			header.Store("")
			stub := &stubGreeter{who: func(ctx context.Context) error {
				if h := header.Load().(string); h != "" {
					return grpc.SetHeader(ctx, metadata.Pairs(wire.RenewalHeader, h))
				}
				return nil
			}}
			f := newFixture(t, setup{greeter: stub, config: func(c *client.Config) {
				c.Issuer, c.Audience = tc.issuer, tc.aud
			}})
			mine := f.client.Tokens()
			renewed := f.renewAtAuthd(t, mine.Access)
			f.handBack(t, &header, renewed)
			got := f.client.Tokens()
			if adopted := got.Access == renewed; adopted != tc.wantAdoption {
				t.Fatalf("renewal of iss and aud %q adopted: %v; want %v", "authd", adopted, tc.wantAdoption)
			}
			if !tc.wantAdoption && got != mine {
				t.Fatalf("tokens changed to %+v; want the login's", got)
			}
		})
	}
}

// failingStore is a TokenStore whose Save always fails.
type failingStore struct{ saves atomic.Int64 }

func (s *failingStore) Load(context.Context) (client.Tokens, error) { return client.Tokens{}, nil }

func (s *failingStore) Save(context.Context, client.Tokens) error {
	s.saves.Add(1)
	return errors.New("disk full")
}

// When the TokenStore cannot save, the client goes on with the tokens in
// memory and warns Config.Logger, in lines that name no token.
func TestLogger_WarnsOfFailedSavesWithoutTokens(t *testing.T) {
	logs := &tokens.LogBuffer{}
	store := &failingStore{}
	f := newFixture(t, setup{store: store, config: func(c *client.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	held := []client.Tokens{f.client.Tokens()} // the login's, not saved
	f.authd.Clock.Advance(tokens.AccessTTL + time.Second)
	if _, err := f.whoAmI(); err != nil { // refreshes: another failed save
		t.Fatalf("a call after a refresh that could not be saved: %v", err)
	}
	held = append(held, f.client.Tokens())
	if held[1].Access == held[0].Access || held[1].Refresh == held[0].Refresh {
		t.Fatal("the client did not refresh")
	}
	if n := store.saves.Load(); n < 2 {
		t.Fatalf("%d saves, want one for the login and one for the refresh", n)
	}

	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var warnings int
	for _, l := range lines {
		if strings.Contains(l, "level=WARN") {
			warnings++
		}
	}
	if int64(warnings) < store.saves.Load() {
		t.Fatalf("%d warnings for %d failed saves; logs:\n%s", warnings, store.saves.Load(), out)
	}
	if !strings.Contains(out, "disk full") {
		t.Fatalf("the warnings do not say why the save failed:\n%s", out)
	}
	for _, tok := range held {
		for _, raw := range []string{tok.Access, tok.Refresh} {
			// A token's claims or signature alone would be a leak too.
			parts := strings.Split(raw, ".")
			for _, p := range append(parts[1:], raw) {
				if strings.Contains(out, p) {
					t.Fatalf("the logs name a token:\n%s", out)
				}
			}
		}
	}
}

// slowAuth is an AuthService whose Refresh blocks until released.
type slowAuth struct {
	authv1.UnimplementedAuthServiceServer
	next      string // the access token Refresh returns
	refreshes atomic.Int64
	started   chan struct{}
	release   chan struct{}
}

func (a *slowAuth) Refresh(ctx context.Context, _ *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	a.refreshes.Add(1)
	select {
	case a.started <- struct{}{}:
	default:
	}
	select {
	case <-a.release:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &authv1.RefreshResponse{AccessToken: a.next}, nil
}

// A call waits for a refresh only as long as its own deadline allows: with
// authd slow to answer, a call with a 50 ms deadline fails with
// DeadlineExceeded at once, while the refresh goes on, and the next call
// gets what that one refresh brings.
func TestRefresh_CallerDeadlineBoundsTheWait(t *testing.T) {
	iss := tokens.New(t)
	auth := &slowAuth{started: make(chan struct{}, 1), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(auth.release) }) }
	authSrv := grpc.NewServer()
	authv1.RegisterAuthServiceServer(authSrv, auth)
	authConn := tokens.Serve(t, authSrv)
	t.Cleanup(release) // after Serve's cleanup is registered, so it runs before the server stops

	store := &client.MemoryStore{}
	if err := store.Save(bg, client.Tokens{Access: iss.FreshAccess(t, "alice", "s1"), Refresh: iss.Refresh(t, "alice", "s1")}); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(bg, authConn, client.Config{Store: store, Insecure: true, Clock: iss.Clock})
	if err != nil {
		t.Fatal(err)
	}
	stub := &stubGreeter{who: func(context.Context) error { return nil }}
	greeterSrv := grpc.NewServer()
	examplev1.RegisterGreeterServiceServer(greeterSrv, stub)
	g := examplev1.NewGreeterServiceClient(tokens.Serve(t, greeterSrv, c.DialOptions()...))

	iss.Clock.Advance(tokens.AccessTTL + time.Second) // the access token has expired: the call must refresh
	auth.next = iss.Access(t, "alice", "s1")

	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = g.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	if elapsed := time.Since(start); elapsed > 2*time.Second { // a sanity bound, not a measurement
		t.Fatalf("the call returned after %v; its deadline was 50ms", elapsed)
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call with a 50ms deadline during a slow refresh: %v; want DeadlineExceeded", err)
	}
	if n := stub.calls.Load(); n != 0 {
		t.Fatalf("%d calls reached the greeter without a token", n)
	}
	select {
	case <-auth.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the refresh never reached authd")
	}
	// The refresh is still blocked in authd: the call did not wait for it.
	release()
	if _, err := g.WhoAmI(bg, &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("the call after authd answered: %v", err)
	}
	if got := c.Tokens().Access; got != auth.next {
		t.Fatal("the client does not hold the refreshed token")
	}
	if n := auth.refreshes.Load(); n != 1 {
		t.Fatalf("%d Refresh RPCs, want the one that outlived the first call's deadline", n)
	}
}
