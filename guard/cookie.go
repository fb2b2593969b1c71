package guard

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/wire"
)

// ErrCSRF refuses a call authenticated by cookie whose CSRF header is
// missing or differs from the CSRF cookie: PermissionDenied, before its
// token is even looked at.
var ErrCSRF = wire.NewError(codes.PermissionDenied, wire.ReasonCSRFTokenInvalid, "CSRF token missing or invalid")

// Cookies names the cookies of a browser session (Config.Cookies). Tokens
// are taken from them only for a call without an authorization header, and
// only when the call's CSRF header equals the CSRF cookie.
type Cookies struct {
	// Access, Refresh and CSRF are the cookies' names ("": wire's
	// AccessCookie, RefreshCookie, CSRFCookie).
	Access, Refresh, CSRF string
	// RefreshPath is the refresh cookie's Path ("": wire.RefreshCookiePath).
	RefreshPath string
}

// DefaultCookies are authd's cookie names.
func DefaultCookies() *Cookies {
	return (&Cookies{}).withDefaults()
}

func (c *Cookies) withDefaults() *Cookies {
	d := *c
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&d.Access, wire.AccessCookie)
	def(&d.Refresh, wire.RefreshCookie)
	def(&d.CSRF, wire.CSRFCookie)
	def(&d.RefreshPath, wire.RefreshCookiePath)
	return &d
}

// minCSRFLength refuses a CSRF value too short to be unguessable: authd
// mints 43 characters (32 random bytes).
const minCSRFLength = 22

// AccessCookie is the cookie that carries an access token for life:
// HttpOnly, Secure, SameSite=Lax (top-level navigations from other sites
// carry it; their POSTs and fetches do not), Path=/.
func (c *Cookies) AccessCookie(raw string, life time.Duration) *http.Cookie {
	return &http.Cookie{Name: c.Access, Value: raw, Path: "/", MaxAge: maxAge(life),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
}

// RefreshCookie is the cookie that carries a refresh token for life:
// HttpOnly, Secure, SameSite=Strict, and sent only to RefreshPath.
func (c *Cookies) RefreshCookie(raw string, life time.Duration) *http.Cookie {
	return &http.Cookie{Name: c.Refresh, Value: raw, Path: c.RefreshPath, MaxAge: maxAge(life),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode}
}

// CSRFCookie is the cookie that carries the anti-CSRF value, readable by
// the page's scripts so that they can copy it into wire.CSRFHeader.
func (c *Cookies) CSRFCookie(value string, life time.Duration) *http.Cookie {
	return &http.Cookie{Name: c.CSRF, Value: value, Path: "/", MaxAge: maxAge(life),
		Secure: true, SameSite: http.SameSiteStrictMode}
}

// Cleared are the three cookies expired (Max-Age=0): what Logout sends.
func (c *Cookies) Cleared() []*http.Cookie {
	cookies := []*http.Cookie{c.AccessCookie("", 0), c.RefreshCookie("", 0), c.CSRFCookie("", 0)}
	for _, k := range cookies {
		k.MaxAge = -1 // net/http writes Max-Age=0
	}
	return cookies
}

// maxAge is life in whole seconds, at least 1 (0 would leave out Max-Age
// and make a session cookie).
func maxAge(life time.Duration) int {
	if s := int(life / time.Second); s > 0 {
		return s
	}
	return 1
}

// Holds reports whether the Cookie header values carry any of the three
// cookies: a call from a browser session (Logout clears the cookies of
// such a call).
func (c *Cookies) Holds(header []string) bool {
	cookies := parseCookies(header)
	for _, k := range cookies {
		if k.Name == c.Access || k.Name == c.Refresh || k.Name == c.CSRF {
			return true
		}
	}
	return false
}

// token returns the token of the first of names that call's
// cookies carry, once the CSRF header has been matched to the CSRF cookie;
// errNoToken when they carry none of them.
func (c *Cookies) token(call Call, names ...string) (string, error) {
	cookies := parseCookies(call.Cookie)
	var raw string
	for _, name := range names {
		v, n := cookieValue(cookies, name)
		if n > 1 {
			return "", fmt.Errorf("%w: %d %s cookies", ErrMissing, n, name)
		}
		if n == 1 {
			raw = v
			break
		}
	}
	if raw == "" {
		return "", errNoToken
	}
	// The CSRF check comes first: a forged call learns nothing of its token.
	want, n := cookieValue(cookies, c.CSRF)
	if n != 1 || len(want) < minCSRFLength || len(call.CSRFToken) != 1 ||
		subtle.ConstantTimeCompare([]byte(call.CSRFToken[0]), []byte(want)) != 1 {
		return "", ErrCSRF
	}
	if hasSpace(raw) {
		return "", fmt.Errorf("%w: malformed token cookie", ErrMissing)
	}
	return raw, nil
}

// parseCookies reads Cookie header values as net/http does, skipping
// malformed pairs.
func parseCookies(header []string) []*http.Cookie {
	if len(header) == 0 {
		return nil
	}
	return (&http.Request{Header: http.Header{"Cookie": header}}).Cookies()
}

// cookieValue returns the value of the cookie name and how many cookies
// of that name there are.
func cookieValue(cookies []*http.Cookie, name string) (string, int) {
	var v string
	n := 0
	for _, k := range cookies {
		if k.Name == name {
			v, n = k.Value, n+1
		}
	}
	return v, n
}

// CSRFValue returns the CSRF cookie's value among the Cookie header
// values, "" when there is not exactly one.
func (c *Cookies) CSRFValue(header []string) string {
	v, n := cookieValue(parseCookies(header), c.CSRF)
	if n != 1 {
		return ""
	}
	return v
}

// Cookies returns the cookies the Guard takes tokens from (Config.Cookies,
// its names defaulted), nil when it reads none.
func (g *Guard) Cookies() *Cookies { return g.cookies }
