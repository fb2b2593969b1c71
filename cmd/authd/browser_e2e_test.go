package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/gen/auth/v1/authv1connect"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/wire"
)

// The page origin the browser tests allow (--cors-origins).
const pageOrigin = "http://127.0.0.1:5173"

// browser is what a browser keeps of authd's cookies, and sends back
// honouring their Path, as Chromium does on http://127.0.0.1 (Secure and
// __Host- cookies are kept on loopback: ../../shared/PITFALLS.md).
type browser struct {
	cookies map[string]*http.Cookie
}

// keep stores the cookies of a response, forgetting those it expires.
func (b *browser) keep(h http.Header) {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

// header is the Cookie header sent to path.
func (b *browser) header(path string) string {
	var pairs []string
	for _, c := range b.cookies {
		if strings.HasPrefix(path, c.Path) {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "; ")
}

// call makes a unary call the way a page's connect-web client does: its
// cookies, and the CSRF header when csrf is set.
func call[Req, Res any](t *testing.T, b *browser, f func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), procedure string, msg *Req, csrf bool) (*Res, error) {
	t.Helper()
	req := connect.NewRequest(msg)
	req.Header().Set("Origin", pageOrigin)
	if h := b.header(procedure); h != "" {
		req.Header().Set("Cookie", h)
	}
	if c := b.cookies[wire.CSRFCookie]; csrf && c != nil {
		req.Header().Set(wire.CSRFHeader, c.Value)
	}
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	res, err := f(ctx, req)
	var cerr *connect.Error
	switch {
	case err == nil:
		b.keep(res.Header())
		return res.Msg, nil
	case errors.As(err, &cerr):
		b.keep(cerr.Meta())
	}
	return nil, err
}

func reasonOf(err error) (connect.Code, string) {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		return connect.CodeUnknown, ""
	}
	for _, d := range cerr.Details() {
		if v, err := d.Value(); err == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				return cerr.Code(), info.GetReason()
			}
		}
	}
	return cerr.Code(), ""
}

// A browser session over authd's HTTP listener, as a page of an allowed
// origin makes it with connect-web: Login with set_cookies answers with
// the three cookies and no token; Refresh, Renew and Logout work from
// them with the CSRF header and are refused without it; Logout expires
// them; gRPC-Web serves the same procedures.
func TestE2E_BrowserSessionInCookies(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServe(t, data, nil, "--http-addr", "127.0.0.1:0", "--cors-origins", pageOrigin+",https://app.example.com")
	authd(t, data, "correct horse\n", "user", "add", "ada", "--password-stdin")
	base := "http://" + srv.httpAddr
	for _, protocol := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect+json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect+proto", nil},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	} {
		t.Run(protocol.name, func(t *testing.T) {
			auth := authv1connect.NewAuthServiceClient(http.DefaultClient, base, protocol.opts...)
			b := &browser{cookies: map[string]*http.Cookie{}}
			login, err := call(t, b, auth.Login, authv1connect.AuthServiceLoginProcedure,
				&authv1.LoginRequest{Username: "ada", Password: "correct horse", SetCookies: true}, false)
			if err != nil {
				t.Fatal(err)
			}
			if login.GetAccessToken() != "" || login.GetRefreshToken() != "" || login.GetExpiresIn() != 900 {
				t.Fatalf("Login with set_cookies answered %v: want no token in the body, expires_in 900", login)
			}
			checkCookie(t, b.cookies[wire.AccessCookie], "/", true, http.SameSiteLaxMode, 900)
			checkCookie(t, b.cookies[wire.RefreshCookie], wire.RefreshCookiePath, true, http.SameSiteStrictMode, 86400)
			checkCookie(t, b.cookies[wire.CSRFCookie], "/", false, http.SameSiteStrictMode, 86400)
			csrf := b.cookies[wire.CSRFCookie].Value

			// Without the CSRF header, nothing happens, whatever the token.
			_, err = call(t, b, auth.Refresh, authv1connect.AuthServiceRefreshProcedure, &authv1.RefreshRequest{}, false)
			if code, reason := reasonOf(err); code != connect.CodePermissionDenied || reason != wire.ReasonCSRFTokenInvalid {
				t.Fatalf("Refresh without x-csrf-token: %v (%v %s), want PermissionDenied CSRF_TOKEN_INVALID", err, code, reason)
			}
			_, err = call(t, b, auth.Logout, authv1connect.AuthServiceLogoutProcedure, &authv1.LogoutRequest{}, false)
			if code, reason := reasonOf(err); code != connect.CodePermissionDenied || reason != wire.ReasonCSRFTokenInvalid || len(b.cookies) != 3 {
				t.Fatalf("Logout without x-csrf-token: %v (%v %s), cookies %d: want CSRF_TOKEN_INVALID and the cookies kept", err, code, reason, len(b.cookies))
			}

			oldRefresh := b.cookies[wire.RefreshCookie].Value
			refreshed, err := call(t, b, auth.Refresh, authv1connect.AuthServiceRefreshProcedure, &authv1.RefreshRequest{}, true)
			if err != nil {
				t.Fatal(err)
			}
			if refreshed.GetAccessToken() != "" || refreshed.GetRefreshToken() != "" {
				t.Fatalf("Refresh by cookie answered tokens in the body: %v", refreshed)
			}
			if b.cookies[wire.RefreshCookie].Value == oldRefresh || b.cookies[wire.CSRFCookie].Value != csrf {
				t.Fatal("Refresh by cookie: want the refresh cookie rotated and the CSRF value kept")
			}
			renewed, err := call(t, b, auth.Renew, authv1connect.AuthServiceRenewProcedure, &authv1.RenewRequest{}, true)
			if err != nil || renewed.GetAccessToken() != "" || renewed.GetExpiresIn() <= 0 {
				t.Fatalf("Renew by cookie = %v, %v: want the token in the cookie only", renewed, err)
			}

			// An authorization header wins: the cookies are not read, so no
			// CSRF header is needed, and a wrong one changes nothing.
			bearer := login2(t, auth)
			req := connect.NewRequest(&authv1.RefreshRequest{})
			req.Header().Set("Authorization", "Bearer "+bearer.GetRefreshToken())
			req.Header().Set("Cookie", b.header(authv1connect.AuthServiceRefreshProcedure))
			req.Header().Set(wire.CSRFHeader, "not the cookie's value, not even close")
			if res, err := auth.Refresh(bg, req); err != nil || res.Msg.GetAccessToken() == "" || len(res.Header().Values("Set-Cookie")) != 0 {
				t.Fatalf("Refresh with a bearer token and stray cookies = %v, %v", res, err)
			}

			stale := &browser{cookies: map[string]*http.Cookie{}}
			for k, v := range b.cookies {
				stale.cookies[k] = v
			}
			if _, err := call(t, b, auth.Logout, authv1connect.AuthServiceLogoutProcedure, &authv1.LogoutRequest{}, true); err != nil {
				t.Fatal(err)
			}
			if len(b.cookies) != 0 {
				t.Fatalf("after Logout the browser keeps %v: want the three cookies expired", b.cookies)
			}
			_, err = call(t, stale, auth.Refresh, authv1connect.AuthServiceRefreshProcedure, &authv1.RefreshRequest{}, true)
			if code, reason := reasonOf(err); code != connect.CodeUnauthenticated || reason != wire.ReasonTokenRevoked {
				t.Fatalf("Refresh with the cookies of a logged-out session: %v (%s), want TOKEN_REVOKED", err, reason)
			}
		})
	}
}

// login2 logs ada in without cookies: the tokens in the body.
func login2(t *testing.T, auth authv1connect.AuthServiceClient) *authv1.LoginResponse {
	t.Helper()
	res, err := auth.Login(bg, connect.NewRequest(&authv1.LoginRequest{Username: "ada", Password: "correct horse"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Header().Values("Set-Cookie")) != 0 || res.Msg.GetRefreshToken() == "" {
		t.Fatalf("Login without set_cookies = %v, cookies %v", res.Msg, res.Header().Values("Set-Cookie"))
	}
	return res.Msg
}

func checkCookie(t *testing.T, c *http.Cookie, path string, httpOnly bool, sameSite http.SameSite, maxAge int) {
	t.Helper()
	if c == nil {
		t.Fatal("cookie not set")
	}
	if c.Path != path || c.HttpOnly != httpOnly || !c.Secure || c.SameSite != sameSite || c.MaxAge != maxAge || c.Domain != "" || c.Value == "" {
		t.Fatalf("cookie %s: %q; want Path=%s HttpOnly=%v Secure SameSite=%v Max-Age=%d, no Domain", c.Name, c.Raw, path, httpOnly, sameSite, maxAge)
	}
}

// CORS on the browser endpoints: a listed origin's preflight is answered
// with credentials allowed; any other origin gets no
// Access-Control-Allow-Origin, and its calls are refused unread.
// AdminService is not served over HTTP at all.
func TestE2E_BrowserEndpointsCORS(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// The origins from the environment, as a deployment sets them.
	srv := startServe(t, data, []string{"AUTHD_CORS_ORIGINS=" + pageOrigin}, "--http-addr", "127.0.0.1:0")
	base := "http://" + srv.httpAddr
	do := func(method, path, origin string, header ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	login := authv1connect.AuthServiceLoginProcedure
	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-csrf-token"}
	res := do(http.MethodOptions, login, pageOrigin, preflight...)
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != pageOrigin ||
		res.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "X-Csrf-Token") {
		t.Fatalf("preflight from %s: %d %v", pageOrigin, res.StatusCode, res.Header)
	}
	for _, origin := range []string{"http://127.0.0.1:5174", "http://evil.example", "null"} {
		res := do(http.MethodOptions, login, origin, preflight...)
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight from %s: %d %v: want 403 without Access-Control-Allow-Origin", origin, res.StatusCode, res.Header)
		}
		res = do(http.MethodPost, login, origin, "Content-Type", "application/json")
		if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("POST from %s: %d: want 403", origin, res.StatusCode)
		}
	}
	// A cross-site form post is a simple request: refused for its origin,
	// and were the origin allowed, by its content type.
	res = do(http.MethodPost, authv1connect.AuthServiceLogoutProcedure, "http://evil.example", "Content-Type", "application/x-www-form-urlencoded")
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("form post from another site: %d, want 403", res.StatusCode)
	}
	res = do(http.MethodPost, authv1connect.AuthServiceLogoutProcedure, pageOrigin, "Content-Type", "application/x-www-form-urlencoded")
	if res.StatusCode < 400 {
		t.Fatalf("form post from the page's origin: %d, want a refusal", res.StatusCode)
	}
	if res := do(http.MethodPost, "/auth.v1.AdminService/ListUsers", "", "Content-Type", "application/json"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("AdminService over HTTP: %d, want 404 (gRPC port only)", res.StatusCode)
	}
	// No body is read past the bound.
	big := bytes.Repeat([]byte("a"), 1<<20)
	req, _ := http.NewRequest(http.MethodPost, base+login, bytes.NewReader(append(append([]byte(`{"username":"`), big...), `"}`...)))
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(bg, patience)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 {
		t.Fatalf("a 1 MiB Login: %d, want a refusal", res.StatusCode)
	}
}

// The public polls keep their per-address bounds over HTTP: the tap the
// gRPC port runs as headers arrive runs before the transcoder too, on the
// caller's real address. Eight callers at once outrun the refill (50 a
// second) however slow the machine; the loop stops at the first refusal
// and is bounded by four bursts' worth of calls.
func TestE2E_BrowserEndpointsKeepThePollBounds(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	srv := startServe(t, data, nil, "--http-addr", "127.0.0.1:0")
	auth := authv1connect.NewAuthServiceClient(http.DefaultClient, "http://"+srv.httpAddr)
	ctx, cancel := context.WithTimeout(bg, 2*patience)
	defer cancel()
	var (
		calls   atomic.Int64
		refusal atomic.Pointer[connect.Error]
		wg      sync.WaitGroup
	)
	limit := int64(4 * service.ListRevocationsBurst)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for refusal.Load() == nil && calls.Add(1) <= limit && ctx.Err() == nil {
				_, err := auth.ListRevocations(ctx, connect.NewRequest(&authv1.ListRevocationsRequest{}))
				var cerr *connect.Error
				if errors.As(err, &cerr) {
					refusal.CompareAndSwap(nil, cerr)
				} else if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cerr := refusal.Load()
	if cerr == nil {
		t.Fatalf("%d ListRevocations over HTTP from one address, none refused", limit)
	}
	if cerr.Code() != connect.CodeResourceExhausted || calls.Load() < service.ListRevocationsBurst {
		t.Fatalf("refused after %d calls with %v, want ResourceExhausted past the burst of %d", calls.Load(), cerr, service.ListRevocationsBurst)
	}
	for _, d := range cerr.Details() {
		if v, _ := d.Value(); v != nil {
			if _, ok := v.(*errdetails.RetryInfo); ok {
				return
			}
		}
	}
	t.Fatalf("refusal without RetryInfo: %v", cerr)
}
