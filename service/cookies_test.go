package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/wire"
)

// jar is a browser's cookies for authd, as Set-Cookie left them.
type jar map[string]string

func (j jar) keep(t *testing.T, md metadata.MD) {
	t.Helper()
	for _, line := range md.Get(wire.SetCookieKey) {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c.Value
		}
	}
}

// ctx is a call from the browser: its cookies and, with csrf, the CSRF
// header.
func (j jar) ctx(csrf bool) context.Context {
	var pairs []string
	for k, v := range j {
		pairs = append(pairs, k+"="+v)
	}
	md := metadata.Pairs(wire.CookieKey, strings.Join(pairs, "; "))
	if csrf {
		md.Append(wire.CSRFHeader, j[wire.CSRFCookie])
	}
	return metadata.NewOutgoingContext(bg, md)
}

func cookieLogin(t *testing.T, e *authdenv.Env) jar {
	t.Helper()
	var header metadata.MD
	resp, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse", SetCookies: true}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if resp.AccessToken != "" || resp.RefreshToken != "" {
		t.Fatalf("Login with set_cookies answered tokens: %v", resp)
	}
	j := jar{}
	j.keep(t, header)
	if len(j) != 3 {
		t.Fatalf("Login set %v, want three cookies", j)
	}
	return j
}

// A browser session lives through expiry: after the access token's life
// its cookie's Refresh gives new cookies, rotation and reuse detection as
// with headers; Logout of an expired session still clears the cookies.
func TestCookies_SessionThroughExpiryRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	j := cookieLogin(t, e)
	csrf := j[wire.CSRFCookie]
	e.Clock.Advance(16 * time.Minute)
	_, err := e.Client.Renew(j.ctx(true), &authv1.RenewRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)

	spent := jar{}
	for k, v := range j {
		spent[k] = v
	}
	var header metadata.MD
	resp, err := e.Client.Refresh(j.ctx(true), &authv1.RefreshRequest{}, grpc.Header(&header))
	if err != nil || resp.AccessToken != "" || resp.RefreshToken != "" {
		t.Fatalf("Refresh by cookie = %v, %v: want the tokens in cookies only", resp, err)
	}
	j.keep(t, header)
	if j[wire.RefreshCookie] == spent[wire.RefreshCookie] || j[wire.CSRFCookie] != csrf {
		t.Fatal("Refresh: want the refresh cookie rotated, the CSRF value kept")
	}
	header = nil
	renewed, err := e.Client.Renew(j.ctx(true), &authv1.RenewRequest{}, grpc.Header(&header))
	if err != nil || renewed.AccessToken != "" || len(header.Get(wire.SetCookieKey)) != 1 {
		t.Fatalf("Renew by cookie = %v, %v, Set-Cookie %v", renewed, err, header.Get(wire.SetCookieKey))
	}

	// The spent refresh cookie, once its successor has been used and the
	// grace has passed, is reuse: the session is revoked.
	header = nil
	if _, err := e.Client.Refresh(j.ctx(true), &authv1.RefreshRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	j.keep(t, header)
	e.Clock.Advance(time.Minute)
	_, err = e.Client.Refresh(spent.ctx(true), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	_, err = e.Client.Refresh(j.ctx(true), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)

	// Logout: refused without CSRF (cookies kept), cookies cleared with it
	// even though the session is gone.
	header = nil
	_, err = e.Client.Logout(j.ctx(false), &authv1.LogoutRequest{}, grpc.Header(&header))
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonCSRFTokenInvalid)
	if len(header.Get(wire.SetCookieKey)) != 0 {
		t.Fatalf("Logout without CSRF set cookies: %v", header)
	}
	header = nil
	_, err = e.Client.Logout(j.ctx(true), &authv1.LogoutRequest{}, grpc.Header(&header))
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	j.keep(t, header)
	if len(j) != 0 {
		t.Fatalf("after Logout the browser keeps %v", j)
	}
}
