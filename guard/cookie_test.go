package guard_test

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// csrfValue is a CSRF value of the length authd mints.
const csrfValue = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"

// cookieCall is a call of method from a browser session: the Cookie header
// pairs and, when csrf is not nil, the CSRF header values.
func cookieCall(method string, csrf []string, pairs ...string) guard.Call {
	return guard.Call{Method: method, Cookie: []string{strings.Join(pairs, "; ")}, CSRFToken: csrf}
}

func TestDecide_CookiesUnderTheCSRFRule(t *testing.T) {
	iss := tokens.New(t)
	access, refresh := iss.Access(t, "alice", sid), iss.Refresh(t, "alice", sid)
	expired := iss.Expired(t, "alice", sid)
	g := newGuard(iss, guard.Config{Cookies: guard.DefaultCookies()})
	csrfCookie := wire.CSRFCookie + "=" + csrfValue
	accessCookie, refreshCookie := wire.AccessCookie+"="+access, wire.RefreshCookie+"="+refresh
	ok := []string{csrfValue}
	for name, tc := range map[string]struct {
		call   guard.Call
		code   codes.Code // OK: allowed, and from the cookie
		reason string
	}{
		"access cookie and CSRF header":       {call: cookieCall(accessMethod, ok, "theme=dark", accessCookie, csrfCookie)},
		"refresh cookie for a REFRESH method": {call: cookieCall(refreshMethod, ok, accessCookie, refreshCookie, csrfCookie)},
		"no CSRF header":                      {call: cookieCall(accessMethod, nil, accessCookie, csrfCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"wrong CSRF header":                   {call: cookieCall(accessMethod, []string{strings.ToUpper(csrfValue)}, accessCookie, csrfCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"two CSRF headers":                    {call: cookieCall(accessMethod, []string{csrfValue, csrfValue}, accessCookie, csrfCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"no CSRF cookie":                      {call: cookieCall(accessMethod, ok, accessCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"two CSRF cookies":                    {call: cookieCall(accessMethod, ok, accessCookie, csrfCookie, csrfCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"empty CSRF cookie and header":        {call: cookieCall(accessMethod, []string{""}, accessCookie, wire.CSRFCookie+"="), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"a short CSRF value":                  {call: cookieCall(accessMethod, []string{"abc"}, accessCookie, wire.CSRFCookie+"=abc"), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		// CSRF first: a forged call learns nothing of the token.
		"expired token without CSRF":     {call: cookieCall(accessMethod, nil, wire.AccessCookie+"="+expired, csrfCookie), code: codes.PermissionDenied, reason: wire.ReasonCSRFTokenInvalid},
		"expired token with CSRF":        {call: cookieCall(accessMethod, ok, wire.AccessCookie+"="+expired, csrfCookie), code: codes.Unauthenticated, reason: wire.ReasonTokenExpired},
		"only the refresh cookie":        {call: cookieCall(accessMethod, ok, refreshCookie, csrfCookie), code: codes.Unauthenticated, reason: wire.ReasonTokenMissing},
		"refresh token in access cookie": {call: cookieCall(accessMethod, ok, wire.AccessCookie+"="+refresh, csrfCookie), code: codes.Unauthenticated, reason: wire.ReasonWrongTokenType},
		"two access cookies":             {call: cookieCall(accessMethod, ok, accessCookie, accessCookie, csrfCookie), code: codes.Unauthenticated, reason: wire.ReasonTokenMissing},
		"other cookies only":             {call: cookieCall(accessMethod, nil, "theme=dark"), code: codes.Unauthenticated, reason: wire.ReasonTokenMissing},
		// An authorization header wins: cookies are not read at all.
		"bearer header beside cookies without CSRF": {call: guard.Call{Method: accessMethod, Authorization: bearer(access), Cookie: []string{wire.AccessCookie + "=garbage"}}},
		"expired bearer beside a good cookie":       {call: guard.Call{Method: accessMethod, Authorization: bearer(expired), Cookie: []string{accessCookie + "; " + csrfCookie}, CSRFToken: ok}, code: codes.Unauthenticated, reason: wire.ReasonTokenExpired},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := g.Decide(bg, tc.call)
			if tc.code != codes.OK {
				wantRefusal(t, err, tc.code, tc.reason)
				return
			}
			if err != nil || d.Claims == nil || d.Claims.Subject != "alice" {
				t.Fatalf("Decide = %+v, %v", d, err)
			}
			if want := len(tc.call.Authorization) == 0; d.FromCookie() != want {
				t.Fatalf("FromCookie = %v, want %v", d.FromCookie(), want)
			}
			if err := g.Precheck(tc.call); err != nil {
				t.Fatalf("Precheck refused what Decide allows: %v", err)
			}
		})
	}
}

// The CSRF rule holds in Precheck too (it needs no key), and for an
// OPTIONAL method: a cookie without its CSRF header is refused, not
// taken for an anonymous call.
func TestPrecheck_CSRFAsHeadersArrive(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{Cookies: guard.DefaultCookies()})
	for _, method := range []string{accessMethod, optionalMethod, refreshMethod} {
		c := cookieCall(method, nil, wire.AccessCookie+"="+iss.Access(t, "alice", sid), wire.RefreshCookie+"="+iss.Refresh(t, "alice", sid), wire.CSRFCookie+"="+csrfValue)
		wantRefusal(t, g.Precheck(c), codes.PermissionDenied, wire.ReasonCSRFTokenInvalid)
		_, err := g.Decide(bg, c)
		wantRefusal(t, err, codes.PermissionDenied, wire.ReasonCSRFTokenInvalid)
	}
	if err := g.Precheck(cookieCall(publicMethod, nil, wire.AccessCookie+"=x")); err != nil {
		t.Fatalf("public method: %v", err)
	}
}

// A Guard without Config.Cookies never reads them.
func TestDecide_NoCookiesUnlessConfigured(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{})
	_, err := g.Decide(bg, cookieCall(accessMethod, []string{csrfValue}, wire.AccessCookie+"="+iss.Access(t, "alice", sid), wire.CSRFCookie+"="+csrfValue))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
	if g.Cookies() != nil {
		t.Fatal("Cookies() of a Guard without Config.Cookies is not nil")
	}
}

// A consumer on another origin than authd names its cookies.
func TestDecide_CookieNamesAreConfigurable(t *testing.T) {
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{Cookies: &guard.Cookies{Access: "shop-access", CSRF: "shop-csrf"}})
	tok := iss.Access(t, "alice", sid)
	d, err := g.Decide(bg, cookieCall(accessMethod, []string{csrfValue}, "shop-access="+tok, "shop-csrf="+csrfValue))
	if err != nil || !d.FromCookie() {
		t.Fatalf("Decide with the configured names = %v, %v", d, err)
	}
	_, err = g.Decide(bg, cookieCall(accessMethod, []string{csrfValue}, wire.AccessCookie+"="+tok, wire.CSRFCookie+"="+csrfValue))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
	if c := g.Cookies(); c.Refresh != wire.RefreshCookie || c.RefreshPath != wire.RefreshCookiePath {
		t.Fatalf("unset names not defaulted: %+v", c)
	}
}

// The cookies authd sets: attributes as the design says, and a renewal
// cookie living as long as the renewed token.
func TestCookies_Attributes(t *testing.T) {
	c := guard.DefaultCookies()
	for _, tc := range []struct {
		cookie *http.Cookie
		want   string
	}{
		{c.AccessCookie("tok", 900e9), "__Host-authd-access=tok; Path=/; Max-Age=900; HttpOnly; Secure; SameSite=Lax"},
		{c.RefreshCookie("tok", 86400e9), "__Secure-authd-refresh=tok; Path=/auth.v1.AuthService/; Max-Age=86400; HttpOnly; Secure; SameSite=Strict"},
		{c.CSRFCookie("v", 86400e9), "__Host-authd-csrf=v; Path=/; Max-Age=86400; Secure; SameSite=Strict"},
	} {
		if got := tc.cookie.String(); got != tc.want {
			t.Errorf("cookie = %q\nwant     %q", got, tc.want)
		}
	}
	for _, k := range c.Cleared() {
		if s := k.String(); !strings.Contains(s, "Max-Age=0") {
			t.Errorf("cleared cookie %q has no Max-Age=0", s)
		}
	}
	iss := tokens.New(t)
	g := newGuard(iss, guard.Config{Cookies: c})
	renewed := iss.Access(t, "alice", sid)
	iss.Clock.Advance(60e9)
	k := g.RenewalCookie(bg, renewed)
	if k == nil || k.Value != renewed || k.MaxAge != 840 {
		t.Fatalf("RenewalCookie = %v, want the token with Max-Age 840 (15 min minus the minute passed)", k)
	}
	if g.RenewalCookie(bg, "not a token") != nil || newGuard(iss, guard.Config{}).RenewalCookie(bg, renewed) != nil {
		t.Fatal("RenewalCookie of a bad token, or without Config.Cookies, is not nil")
	}
}
