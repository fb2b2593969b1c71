package connectauth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"net/http/httptest"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/client"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/connectauth"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/gen/example/v1/examplev1connect"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/protect"
	"github.com/authd-dev/authd/wire"
)

// countingConn counts the Refresh calls made to authd.
type countingConn struct {
	grpc.ClientConnInterface
	refreshes atomic.Int64
}

func (c *countingConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if method == "/auth.v1.AuthService/Refresh" {
		c.refreshes.Add(1)
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// session is authd, the greeter behind connectauth.Protect, and a
// client.Client logged in as alice.
type session struct {
	authd  *authdtest.Env
	auth   *countingConn
	client *client.Client
	srv    *httptest.Server
	greet  func(protocol connect.ClientOption) examplev1connect.GreeterServiceClient

	mu            sync.Mutex
	loginRequired []error
}

// newSession starts it, the client on clientClock (nil: authd's).
func newSession(t *testing.T, cfg protect.Config, clientClock clock.Clock) *session {
	t.Helper()
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	s := &session{authd: e, auth: &countingConn{ClientConnInterface: e.Conn}}
	ctx, cancel := context.WithCancel(bg)
	t.Cleanup(cancel)
	cfg.Guard.Clock, cfg.NoRevocationPolling = e.Clock, true // no poller racing the fake clock
	authn, err := connectauth.Protect(ctx, e.Conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.srv = newGreeter(t, e.Clock, authn)
	if clientClock == nil {
		clientClock = e.Clock
	}
	s.client, err = client.New(bg, s.auth, client.Config{Insecure: true, Clock: clientClock,
		OnLoginRequired: func(_ context.Context, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.loginRequired = append(s.loginRequired, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Login(bg, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	s.greet = func(protocol connect.ClientOption) examplev1connect.GreeterServiceClient {
		return greeterClient(s.srv, protocol, connect.WithInterceptors(connectauth.ClientInterceptor(s.client)))
	}
	return s
}

// The client interceptor attaches the client's token; a call that sets its
// own authorization keeps it.
func TestClientInterceptor_AttachesTheToken(t *testing.T) {
	s := newSession(t, protect.Config{}, nil)
	s.authd.AddUser(t, "bob", "pw")
	bob := s.authd.Login(t, "bob", "pw").AccessToken
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			who, err := s.greet(p.opt).WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{}))
			if err != nil || who.Msg.Subject != "alice" {
				t.Fatalf("WhoAmI = %v, %v", who, err)
			}
			req := connect.NewRequest(&examplev1.WhoAmIRequest{})
			req.Header().Set(wire.AuthorizationKey, "Bearer "+bob)
			if who, err := s.greet(p.opt).WhoAmI(bg, req); err != nil || who.Msg.Subject != "bob" {
				t.Fatalf("WhoAmI with the caller's own token = %v, %v", who, err)
			}
		})
	}
}

// A unary call refused with TOKEN_EXPIRED is retried once with a refreshed
// token; a stream is not retried, but the next call has the refreshed
// token; FRESH_TOKEN_REQUIRED calls OnLoginRequired.
func TestClientInterceptor_RefreshesAndRetriesOnce(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			// The client's clock stays behind: it believes its token valid
			// when the greeter finds it expired.
			s := newSession(t, protect.Config{}, clock.NewFake(tokens.Start))
			before := s.client.Tokens().Access
			s.authd.Clock.Advance(16 * time.Minute)

			who, err := s.greet(p.opt).WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{}))
			if err != nil || who.Msg.Subject != "alice" {
				t.Fatalf("WhoAmI with an expired token = %v, %v; want a retry that succeeds", who, err)
			}
			if n := s.auth.refreshes.Load(); n != 1 || s.client.Tokens().Access == before {
				t.Fatalf("%d refreshes; token changed: %v", n, s.client.Tokens().Access != before)
			}

			s.authd.Clock.Advance(16 * time.Minute)
			stream, err := s.greet(p.opt).Ticks(bg, connect.NewRequest(&examplev1.TicksRequest{Count: 1}))
			if err != nil {
				t.Fatal(err)
			}
			if stream.Receive() {
				t.Fatal("a stream with an expired token got a tick")
			}
			wantRefusal(t, stream.Err(), codes.Unauthenticated, wire.ReasonTokenExpired)
			if n := s.auth.refreshes.Load(); n != 2 {
				t.Fatalf("%d refreshes after the refused stream, want 2", n)
			}
			if _, err := s.greet(p.opt).WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{})); err != nil || s.auth.refreshes.Load() != 2 {
				t.Fatalf("WhoAmI after the stream: %v, %d refreshes", err, s.auth.refreshes.Load())
			}

			_, err = s.greet(p.opt).DeleteAccount(bg, connect.NewRequest(&examplev1.DeleteAccountRequest{}))
			wantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.loginRequired) != 1 {
				t.Fatalf("OnLoginRequired called %d times, want once", len(s.loginRequired))
			}
		})
	}
}

// The client adopts the renewal a service answers with, unary or stream.
func TestClientInterceptor_AdoptsRenewals(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			s := newSession(t, protect.Config{Renewal: true}, nil)
			before := s.client.Tokens().Access
			s.authd.Clock.Advance(9 * time.Minute)
			if _, err := s.greet(p.opt).WhoAmI(bg, connect.NewRequest(&examplev1.WhoAmIRequest{})); err != nil {
				t.Fatal(err)
			}
			unary := s.client.Tokens().Access
			if unary == before {
				t.Fatal("the renewal of a unary call was not adopted")
			}
			s.authd.Clock.Advance(9 * time.Minute)
			stream, err := s.greet(p.opt).Ticks(bg, connect.NewRequest(&examplev1.TicksRequest{Count: 1}))
			if err != nil {
				t.Fatal(err)
			}
			if !stream.Receive() {
				t.Fatal(stream.Err())
			}
			if s.client.Tokens().Access == unary {
				t.Fatal("the renewal of a stream was not adopted")
			}
			if n := s.auth.refreshes.Load(); n != 0 {
				t.Fatalf("%d refreshes; the renewals should have sufficed", n)
			}
		})
	}
}

// Protect accepts the access cookie of a browser session under the CSRF
// rule, with authd's cookie names or those of protect.Config.Guard.Cookies.
func TestProtect_AcceptsTheAccessCookie(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cookies *guard.Cookies
		access  string
	}{
		{"authd's names", nil, wire.AccessCookie},
		{"names of its own", &guard.Cookies{Access: "__Host-shop-access", CSRF: "__Host-shop-csrf"}, "__Host-shop-access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, protect.Config{Guard: guard.Config{Cookies: tc.cookies}}, nil)
			csrfName := wire.CSRFCookie
			if tc.cookies != nil {
				csrfName = tc.cookies.CSRF
			}
			access := s.authd.Login(t, "alice", "pw").AccessToken
			req := connect.NewRequest(&examplev1.WhoAmIRequest{})
			req.Header().Set(wire.CookieKey, tc.access+"="+access+"; "+csrfName+"="+csrf)
			req.Header().Set(wire.CSRFHeader, csrf)
			greeter := greeterClient(s.srv, connect.WithGRPCWeb())
			if who, err := greeter.WhoAmI(bg, req); err != nil || who.Msg.Subject != "alice" {
				t.Fatalf("WhoAmI by cookie = %v, %v", who, err)
			}
			req.Header().Del(wire.CSRFHeader)
			_, err := greeter.WhoAmI(bg, req)
			wantRefusal(t, err, codes.PermissionDenied, wire.ReasonCSRFTokenInvalid)
		})
	}
}
