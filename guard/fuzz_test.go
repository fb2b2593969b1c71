package guard_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// FuzzCookieCredential drives a browser session's credential — the Cookie
// header, parsed as net/http does, and the CSRF header — through Decide.
// It never panics, refuses with a status from the error table, and allows
// a call only when it carries the one real token under a CSRF header equal
// to its CSRF cookie.
func FuzzCookieCredential(f *testing.F) {
	iss := tokens.New(f)
	good := iss.Access(f, "alice", sid)
	g := newGuard(iss, guard.Config{Cookies: guard.DefaultCookies()})
	for _, seed := range []struct{ cookie, csrf string }{
		{wire.AccessCookie + "=" + good + "; " + wire.CSRFCookie + "=" + csrfValue, csrfValue},
		{wire.AccessCookie + "=" + good + "; " + wire.CSRFCookie + "=" + csrfValue, ""},
		{wire.AccessCookie + "=\"" + good + "\"; " + wire.CSRFCookie + "=\"" + csrfValue + "\"", csrfValue},
		{wire.AccessCookie + "=a.b.c; " + wire.CSRFCookie + "=" + csrfValue + "; " + wire.CSRFCookie + "=x", csrfValue},
		{";;=; " + wire.AccessCookie + "; =" + good, ""},
		{wire.AccessCookie + "=" + good + "\x00; " + wire.CSRFCookie + "=" + csrfValue, csrfValue},
	} {
		f.Add(seed.cookie, seed.csrf)
	}
	f.Fuzz(func(t *testing.T, cookie, csrf string) {
		call := guard.Call{Method: accessMethod, Cookie: []string{cookie}, CSRFToken: []string{csrf}}
		d, err := g.Decide(bg, call)
		if err == nil {
			if !d.FromCookie() || !strings.Contains(cookie, good) || !strings.Contains(cookie, csrf) || len(csrf) < 22 {
				t.Fatalf("allowed %q with CSRF header %q", cookie, csrf)
			}
			return
		}
		st := wire.StatusError(err)
		switch code, reason := status.Code(st), wire.Reason(st); {
		case code == codes.PermissionDenied && reason == wire.ReasonCSRFTokenInvalid:
		case code == codes.Unauthenticated && reason != "":
		default:
			t.Fatalf("refused %q / %q with %v (%s): not a row of the error table", cookie, csrf, code, reason)
		}
	})
}
