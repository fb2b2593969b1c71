package connectauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authzmatrix"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// statusOf is the gRPC status of a connect client's error.
func statusOf(err error) *status.Status { return status.Convert(connectauth.StatusOf(err)) }

// wantRefusal fails the test unless err, a connect error, has code and
// ErrorInfo reason ("" for none).
func wantRefusal(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	tokens.WantRefusal(t, connectauth.StatusOf(err), code, reason)
}

// Error is wire.StatusError for connect: the same code, message and
// details, whatever the error.
func TestError_IsWireStatusError(t *testing.T) {
	shared := connect.NewError(connect.CodeAborted, errors.New("the handler's own"))
	for name, err := range map[string]error{
		"missing":          guard.ErrMissing,
		"expired, wrapped": fmt.Errorf("verify: %w", token.ErrExpired),
		"role":             guard.InsufficientRole([]string{"admin", "support"}),
		"scope":            guard.InsufficientScope([]string{"orders:read"}),
		"csrf":             guard.ErrCSRF,
		"unavailable":      fmt.Errorf("%w: store down", guard.ErrUnavailable),
		"retry info": wire.NewError(codes.ResourceExhausted, wire.ReasonLoginInFlight, "in flight").
			Detail("too many logins in flight", map[string]string{"k": "v"}, 1500*time.Millisecond),
		"internal":          errors.New("secret detail"),
		"canceled":          context.Canceled,
		"deadline":          fmt.Errorf("call: %w", context.DeadlineExceeded),
		"a status":          status.Error(codes.NotFound, "no such thing"),
		"a connect error":   shared,
		"a wrapped connect": fmt.Errorf("handler: %w", shared),
	} {
		t.Run(name, func(t *testing.T) {
			got := connectauth.Error(err)
			if errors.Is(err, shared) {
				if got != shared {
					t.Fatalf("Error(%v) = %v, want the connect error as it is", err, got)
				}
				return
			}
			want := status.Convert(wire.StatusError(err)).Proto()
			if g := statusOf(got).Proto(); !proto.Equal(g, want) {
				t.Fatalf("Error(%v) = %v, want %v", err, g, want)
			}
		})
	}
	if connectauth.Error(nil) != nil {
		t.Fatal("Error(nil) is not nil")
	}
}

// A caller hears the same refusal, code, message and details, from the
// greeter behind the grpc-go interceptors and behind connectauth, and so
// does a connect client over the gRPC protocol.
func TestRefusals_SameAsGRPCGo(t *testing.T) {
	iss := tokens.New(t)
	grpcSrv, err := greeter.NewServer(greeterGuard(iss, guard.Config{}), iss.Clock)
	if err != nil {
		t.Fatal(err)
	}
	viaGRPC := examplev1.NewGreeterServiceClient(tokens.Serve(t, grpcSrv))
	srv := newGreeter(t, iss.Clock, connectauth.New(greeterGuard(iss, guard.Config{})))
	conn, err := grpc.NewClient(strings.TrimPrefix(srv.URL, "https://"),
		grpc.WithTransportCredentials(credentials.NewTLS(srv.Client().Transport.(*http.Transport).TLSClientConfig)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	viaConnect := examplev1.NewGreeterServiceClient(conn)
	connectClient := greeterClient(srv, connect.WithGRPC())

	access := iss.Access(t, "alice", sid, tokens.WithRoles("user"))
	for _, tc := range []struct {
		name    string
		tok     string
		auth    []string // authorization values, when not "Bearer tok"
		grpc    func(examplev1.GreeterServiceClient, context.Context) error
		connect func(context.Context, http.Header) error
	}{
		{"WhoAmI without a token", "", nil,
			func(c examplev1.GreeterServiceClient, ctx context.Context) error {
				_, err := c.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
				return err
			},
			func(ctx context.Context, h http.Header) error {
				req := connect.NewRequest(&examplev1.WhoAmIRequest{})
				copyHeader(req.Header(), h)
				_, err := connectClient.WhoAmI(ctx, req)
				return err
			}},
		{"Admin without the role", access, nil,
			func(c examplev1.GreeterServiceClient, ctx context.Context) error {
				_, err := c.Admin(ctx, &examplev1.AdminRequest{})
				return err
			},
			func(ctx context.Context, h http.Header) error {
				req := connect.NewRequest(&examplev1.AdminRequest{})
				copyHeader(req.Header(), h)
				_, err := connectClient.Admin(ctx, req)
				return err
			}},
		{"DeleteAccount not fresh", access, nil,
			func(c examplev1.GreeterServiceClient, ctx context.Context) error {
				_, err := c.DeleteAccount(ctx, &examplev1.DeleteAccountRequest{})
				return err
			},
			func(ctx context.Context, h http.Header) error {
				req := connect.NewRequest(&examplev1.DeleteAccountRequest{})
				copyHeader(req.Header(), h)
				_, err := connectClient.DeleteAccount(ctx, req)
				return err
			}},
		{"Ticks with an expired token", iss.Expired(t, "alice", sid), nil,
			func(c examplev1.GreeterServiceClient, ctx context.Context) error {
				s, err := c.Ticks(ctx, &examplev1.TicksRequest{Count: 1})
				if err != nil {
					return err
				}
				_, err = s.Recv()
				return err
			},
			func(ctx context.Context, h http.Header) error {
				req := connect.NewRequest(&examplev1.TicksRequest{Count: 1})
				copyHeader(req.Header(), h)
				s, err := connectClient.Ticks(ctx, req)
				if err != nil {
					return err
				}
				s.Receive()
				return s.Err()
			}},
		{"ReadOrders with two tokens", "", []string{"Bearer " + access, "Bearer " + access},
			func(c examplev1.GreeterServiceClient, ctx context.Context) error {
				_, err := c.ReadOrders(ctx, &examplev1.ReadOrdersRequest{})
				return err
			},
			func(ctx context.Context, h http.Header) error {
				req := connect.NewRequest(&examplev1.ReadOrdersRequest{})
				copyHeader(req.Header(), h)
				_, err := connectClient.ReadOrders(ctx, req)
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.auth
			if tc.tok != "" {
				auth = []string{"Bearer " + tc.tok}
			}
			ctx, header := bg, http.Header{}
			for _, v := range auth {
				ctx = metadata.AppendToOutgoingContext(ctx, wire.AuthorizationKey, v)
				header.Add(wire.AuthorizationKey, v)
			}
			want := status.Convert(tc.grpc(viaGRPC, ctx))
			if want.Code() == codes.OK {
				t.Fatal("grpc-go let the call through")
			}
			if got := status.Convert(tc.grpc(viaConnect, ctx)); !proto.Equal(got.Proto(), want.Proto()) {
				t.Errorf("a grpc-go client of connectauth heard %v, of the interceptors %v", got.Proto(), want.Proto())
			}
			if got := statusOf(tc.connect(bg, header)); !proto.Equal(got.Proto(), want.Proto()) {
				t.Errorf("a connect gRPC client of connectauth heard %v, of the interceptors %v", got.Proto(), want.Proto())
			}
		})
	}
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

func TestClaimsReachHandlers(t *testing.T) {
	iss := tokens.New(t)
	srv := newGreeter(t, iss.Clock, connectauth.New(greeterGuard(iss, guard.Config{})))
	access := "Bearer " + iss.FreshAccess(t, "alice", sid)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			client := greeterClient(srv, p.opt)
			req := connect.NewRequest(&examplev1.WhoAmIRequest{})
			req.Header().Set(wire.AuthorizationKey, access)
			resp, err := client.WhoAmI(bg, req)
			if err != nil || resp.Msg.Subject != "alice" || !resp.Msg.Fresh || resp.Msg.Sid != sid {
				t.Fatalf("WhoAmI = %v, %v", resp, err)
			}
			greet, err := client.Greet(bg, connect.NewRequest(&examplev1.GreetRequest{}))
			if err != nil || greet.Msg.Message != "hello, stranger" {
				t.Fatalf("anonymous Greet = %v, %v", greet, err)
			}
		})
	}
}

// csrf is a CSRF value as long as authd's.
var csrf = strings.Repeat("c", 43)

// browser is a request header as a browser session sends it: its access
// cookie and CSRF cookie, and csrfHeader as x-csrf-token ("" for none).
func browser(access, csrfHeader string) http.Header {
	h := http.Header{}
	h.Add(wire.CookieKey, wire.AccessCookie+"="+access+"; "+wire.CSRFCookie+"="+csrf)
	if csrfHeader != "" {
		h.Set(wire.CSRFHeader, csrfHeader)
	}
	return h
}

// A browser session's access cookie authenticates a call that copies the
// CSRF cookie into x-csrf-token, and only such a call, which hears of a
// missing or wrong CSRF header before anything else; a call with an
// authorization header is authenticated by it, its cookies ignored.
func TestCookies_UnderTheCSRFRule(t *testing.T) {
	iss := tokens.New(t)
	srv := newGreeter(t, iss.Clock, connectauth.New(greeterGuard(iss, guard.Config{Cookies: guard.DefaultCookies()})))
	alice, expiredAlice := iss.Access(t, "alice", sid), iss.Expired(t, "alice", sid)
	bob := iss.Access(t, "bob", "session-2")
	for _, tc := range []struct {
		name   string
		header http.Header
		code   codes.Code
		reason string
		who    string
	}{
		{"cookie and its CSRF header", browser(alice, csrf), codes.OK, "", "alice"},
		{"cookie, no CSRF header", browser(alice, ""), codes.PermissionDenied, wire.ReasonCSRFTokenInvalid, ""},
		{"cookie, another CSRF value", browser(alice, strings.Repeat("d", 43)), codes.PermissionDenied, wire.ReasonCSRFTokenInvalid, ""},
		{"expired cookie, no CSRF header", browser(expiredAlice, ""), codes.PermissionDenied, wire.ReasonCSRFTokenInvalid, ""},
		{"expired cookie and its CSRF header", browser(expiredAlice, csrf), codes.Unauthenticated, wire.ReasonTokenExpired, ""},
		{"authorization header beside cookies", func() http.Header {
			h := browser(alice, "")
			h.Set(wire.AuthorizationKey, "Bearer "+bob)
			return h
		}(), codes.OK, "", "bob"},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				client := greeterClient(srv, p.opt)
				req := connect.NewRequest(&examplev1.WhoAmIRequest{})
				copyHeader(req.Header(), tc.header)
				resp, err := client.WhoAmI(bg, req)
				if tc.code != codes.OK {
					wantRefusal(t, err, tc.code, tc.reason)
					return
				}
				if err != nil || resp.Msg.Subject != tc.who {
					t.Fatalf("WhoAmI = %v, %v; want %s", resp, err, tc.who)
				}
			})
		}
	}
}

// renewer renews any access token for AccessTTL from now, same subject and
// session.
func renewer(iss *tokens.Issuer) guard.RenewerFunc {
	return func(_ context.Context, _ string, old *token.Claims) (string, error) {
		return iss.Signer.Sign(iss.Claims(token.Access, old.Subject, old.SessionID))
	}
}

// A renewal goes back in x-access-token to a call authenticated by its
// authorization header, unary or stream, and as the access cookie, never
// in x-access-token, to one authenticated by cookie.
func TestRenewal_HeaderOrCookie(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			iss := tokens.New(t)
			g := greeterGuard(iss, guard.Config{Cookies: guard.DefaultCookies(), Renewer: renewer(iss)})
			client := greeterClient(newGreeter(t, iss.Clock, connectauth.New(g)), p.opt)
			access := iss.FreshAccess(t, "alice", sid)
			iss.Clock.Advance(9 * time.Minute)

			unary := func(h http.Header) http.Header {
				t.Helper()
				req := connect.NewRequest(&examplev1.WhoAmIRequest{})
				copyHeader(req.Header(), h)
				resp, err := client.WhoAmI(bg, req)
				if err != nil {
					t.Fatal(err)
				}
				return resp.Header()
			}
			stream := func(h http.Header) http.Header {
				t.Helper()
				req := connect.NewRequest(&examplev1.TicksRequest{Count: 1})
				copyHeader(req.Header(), h)
				s, err := client.Ticks(bg, req)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if !s.Receive() {
					t.Fatal(s.Err())
				}
				return s.ResponseHeader()
			}
			bearer := http.Header{wire.AuthorizationKey: {"Bearer " + access}}
			for kind, call := range map[string]func(http.Header) http.Header{"unary": unary, "stream": stream} {
				got := call(bearer)
				if renewed := got.Values(wire.RenewalHeader); len(renewed) != 1 || verify(t, iss, renewed[0]).Subject != "alice" {
					t.Fatalf("%s with a header: renewal %q", kind, renewed)
				}
				if c := got.Values(wire.SetCookieKey); len(c) != 0 {
					t.Fatalf("%s with a header: Set-Cookie %q", kind, c)
				}

				got = call(browser(access, csrf))
				if renewed := got.Values(wire.RenewalHeader); len(renewed) != 0 {
					t.Fatalf("%s with a cookie: a renewal in %s: %q", kind, wire.RenewalHeader, renewed)
				}
				cookies, err := http.ParseSetCookie(got.Get(wire.SetCookieKey))
				if err != nil || len(got.Values(wire.SetCookieKey)) != 1 || cookies.Name != wire.AccessCookie ||
					!cookies.HttpOnly || !cookies.Secure || verify(t, iss, cookies.Value).Subject != "alice" {
					t.Fatalf("%s with a cookie: Set-Cookie %q (%v)", kind, got.Values(wire.SetCookieKey), err)
				}
			}
		})
	}
}

func verify(t *testing.T, iss *tokens.Issuer, raw string) *token.Claims {
	t.Helper()
	c, err := iss.Verifier.Verify(bg, raw)
	if err != nil {
		t.Fatalf("renewal %q: %v", raw, err)
	}
	return c
}

// A unary handler's refusal carries the renewal too, in its metadata, and
// the error the handler returned is left as it was: handlers may return
// one error value to every caller.
func TestRenewal_KeptOnTheHandlersError(t *testing.T) {
	iss := tokens.New(t)
	const procedure = "/test.v1.Refuser/Refuse"
	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Renewer: renewer(iss),
		Methods: map[string]guard.Rule{procedure: {Requirement: guard.Access}}})
	shared := connect.NewError(connect.CodeFailedPrecondition, errors.New("not now"))
	authn := connectauth.New(g)
	srv := serve(t, authn.Middleware(connect.NewUnaryHandler(procedure,
		func(context.Context, *connect.Request[examplev1.HelloRequest]) (*connect.Response[examplev1.HelloResponse], error) {
			return nil, fmt.Errorf("refuse: %w", shared)
		}, connect.WithInterceptors(authn.Interceptor()))), nil)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			client := connect.NewClient[examplev1.HelloRequest, examplev1.HelloResponse](srv.Client(), srv.URL+procedure, p.opt)
			access := iss.FreshAccess(t, "alice", sid)
			iss.Clock.Advance(9 * time.Minute)
			req := connect.NewRequest(&examplev1.HelloRequest{})
			req.Header().Set(wire.AuthorizationKey, "Bearer "+access)
			_, err := client.CallUnary(bg, req)
			var cerr *connect.Error
			if !errors.As(err, &cerr) || cerr.Code() != connect.CodeFailedPrecondition || cerr.Message() != "not now" {
				t.Fatalf("err = %v", err)
			}
			if renewed := cerr.Meta().Values(wire.RenewalHeader); len(renewed) != 1 || verify(t, iss, renewed[0]).Subject != "alice" {
				t.Fatalf("renewal on the error: %q", renewed)
			}
			if len(shared.Meta()) != 0 {
				t.Fatalf("the handler's error was changed: %v", shared.Meta())
			}
		})
	}
}

// ticks opens Ticks with tok, one tick a minute, and returns the stream
// once its first tick has arrived.
func ticks(t *testing.T, client interface {
	Ticks(context.Context, *connect.Request[examplev1.TicksRequest]) (*connect.ServerStreamForClient[examplev1.TicksResponse], error)
}, tok string) *connect.ServerStreamForClient[examplev1.TicksResponse] {
	t.Helper()
	req := connect.NewRequest(&examplev1.TicksRequest{IntervalMs: 60_000})
	req.Header().Set(wire.AuthorizationKey, "Bearer "+tok)
	stream, err := client.Ticks(bg, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Close() })
	if !stream.Receive() || stream.Msg().N != 1 {
		t.Fatalf("first tick: %v", stream.Err())
	}
	return stream
}

// A stream ends with TOKEN_EXPIRED at its token's exp, not one tick later.
func TestStream_EndedWithTokenExpiredWhenTokenExpires(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			iss := tokens.New(t)
			client := greeterClient(newGreeter(t, iss.Clock, connectauth.New(greeterGuard(iss, guard.Config{}))), p.opt)
			stream := ticks(t, client, iss.FreshAccess(t, "alice", sid)) // expires in 15 minutes
			for n := int64(2); ; n++ {
				// The handler's tick timer and the interceptor's expiry timer.
				if !iss.Clock.WaitForTimers(2, 10*time.Second) {
					t.Fatalf("after tick %d: the tick and expiry timers were never both armed", n-1)
				}
				iss.Clock.Advance(time.Minute)
				if !stream.Receive() {
					wantRefusal(t, stream.Err(), codes.Unauthenticated, wire.ReasonTokenExpired)
					if n != 16 {
						t.Fatalf("stream ended after %d ticks of one minute, want at the 15-minute expiry", n-1)
					}
					return
				}
				if stream.Msg().N != n || stream.Msg().Subject != "alice" {
					t.Fatalf("tick = %v, want %d for alice", stream.Msg(), n)
				}
			}
		})
	}
}

// switchable is a guard.Revocations the test turns: revoked, or down.
type switchable struct{ revoked, down atomic.Bool }

func (s *switchable) Revoked(context.Context, *token.Claims) (bool, error) {
	if s.down.Load() {
		return false, errors.New("store down")
	}
	return s.revoked.Load(), nil
}

// An open stream ends with TOKEN_REVOKED within one recheck interval of
// its session's revocation, and fails closed when it can no longer be
// checked.
func TestStream_EndedWhenItsSessionIsRevoked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		turn   func(*switchable)
		code   codes.Code
		reason string
	}{
		{"revoked", func(s *switchable) { s.revoked.Store(true) }, codes.Unauthenticated, wire.ReasonTokenRevoked},
		{"checker down", func(s *switchable) { s.down.Store(true) }, codes.Unavailable, ""},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				iss := tokens.New(t)
				var sw switchable
				g := greeterGuard(iss, guard.Config{Revocations: &sw, StreamRevocationCheck: time.Second})
				stream := ticks(t, greeterClient(newGreeter(t, iss.Clock, connectauth.New(g)), p.opt), iss.FreshAccess(t, "alice", sid))
				// The handler's tick, the expiry and the revocation check.
				if !iss.Clock.WaitForTimers(3, 10*time.Second) {
					t.Fatal("the three timers of an open stream were never armed")
				}
				tc.turn(&sw)
				iss.Clock.Advance(time.Second)
				if stream.Receive() {
					t.Fatalf("a tick after the revocation: %v", stream.Msg())
				}
				wantRefusal(t, stream.Err(), tc.code, tc.reason)
			})
		}
	}
}

// recordingBody records whether a request's body was read.
type recordingBody struct {
	io.ReadCloser
	read *atomic.Bool
}

func (b recordingBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.ReadCloser.Read(p)
}

// Middleware refuses a call that needs a token and carries none, or one
// not shaped like a token, as its headers arrive: its body is never read
// and the handler never runs. A call it lets through is read.
func TestMiddleware_RefusesBeforeTheBodyIsRead(t *testing.T) {
	iss := tokens.New(t)
	authn := connectauth.New(greeterGuard(iss, guard.Config{}))
	_, h := greeterHandler(iss.Clock, authn)
	var read atomic.Bool
	inner := authn.Middleware(h)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = recordingBody{ReadCloser: r.Body, read: &read}
		inner.ServeHTTP(w, r)
	}), nil)
	for _, p := range protocols {
		for _, tc := range []struct {
			name, auth, reason string
		}{
			{"no token", "", wire.ReasonTokenMissing},
			{"not a bearer", "Basic YWxpY2U6cHc=", wire.ReasonTokenMissing},
			{"not a token", "Bearer not-a-jwt", wire.ReasonTokenInvalid},
			{"a token", "Bearer " + iss.Access(t, "alice", sid), ""},
		} {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				read.Store(false)
				req := connect.NewRequest(&examplev1.WhoAmIRequest{})
				if tc.auth != "" {
					req.Header().Set(wire.AuthorizationKey, tc.auth)
				}
				_, err := greeterClient(srv, p.opt).WhoAmI(bg, req)
				if tc.reason == "" {
					if err != nil || !read.Load() {
						t.Fatalf("WhoAmI = %v; body read: %v", err, read.Load())
					}
					return
				}
				wantRefusal(t, err, codes.Unauthenticated, tc.reason)
				if read.Load() {
					t.Fatal("the body of a refused call was read")
				}
			})
		}
	}
}

// CheckServices takes a handler's path or a service's name, reads its
// methods from the registry, and names those that declare nothing.
func TestCheckServices(t *testing.T) {
	iss := tokens.New(t)
	authn := connectauth.New(greeterGuard(iss, guard.Config{}))
	for _, name := range []string{"/example.v1.GreeterService/", "example.v1.GreeterService", "/auth.v1.AuthService/"} {
		if err := authn.CheckServices(name); err != nil {
			t.Errorf("CheckServices(%q) = %v", name, err)
		}
	}
	if err := authn.CheckServices("example.v1.NoSuchService"); err == nil {
		t.Error("CheckServices of an unknown service passed")
	}
	// A Guard that sees none of greeter.proto's options: every method is
	// named.
	files := authzmatrix.FilesOf(t, authv1.File_auth_v1_auth_proto)
	err := connectauth.New(greeterGuard(iss, guard.Config{Files: files})).CheckServices("/example.v1.GreeterService/")
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) || len(undeclared.Methods) != examplev1.File_example_v1_greeter_proto.Services().Get(0).Methods().Len() {
		t.Fatalf("CheckServices = %v, want every greeter method undeclared", err)
	}
}
