package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/wire"
)

// A browser session (LoginRequest.set_cookies) keeps its tokens in
// cookies the page's scripts cannot read; the Guard takes them back under
// the CSRF rule (guard.Config.Cookies). A call authenticated by cookie is
// answered with cookies, and the response body carries no token.

// errNoCookies: set_cookies asked of an authd whose Guard reads no
// cookies.
var errNoCookies = wire.InvalidArgument("set_cookies: this server does not accept cookies")

// setSessionCookies sends tokens as the session's cookies; csrf is the
// session's anti-CSRF value ("" at login: a new one is minted). The CSRF
// cookie lives as long as the refresh cookie, and keeps its value for the
// session's life, so that a call a page has started with the old value
// never fails because a refresh crossed it.
func (s *Service) setSessionCookies(ctx context.Context, tokens session.Tokens, csrf string) error {
	c := s.guard.Cookies()
	if c == nil {
		return errNoCookies
	}
	if csrf == "" {
		var b [32]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		csrf = base64.RawURLEncoding.EncodeToString(b[:])
	}
	cookies := []*http.Cookie{c.AccessCookie(tokens.Access, tokens.AccessExpiresIn)}
	if tokens.Refresh != "" {
		cookies = append(cookies, c.RefreshCookie(tokens.Refresh, tokens.RefreshExpiresIn))
	}
	cookies = append(cookies, c.CSRFCookie(csrf, tokens.RefreshExpiresIn))
	setCookies(ctx, cookies...)
	return nil
}

// sessionCSRF is the CSRF value the call in ctx carried in its cookie
// (the Guard matched it to the header before letting the call in).
func (s *Service) sessionCSRF(ctx context.Context) string {
	c := s.guard.Cookies()
	if c == nil {
		return ""
	}
	return c.CSRFValue(metadata.ValueFromIncomingContext(ctx, wire.CookieKey))
}

// setAccessCookie sends a renewed access token as the access cookie.
func (s *Service) setAccessCookie(ctx context.Context, access string, life time.Duration) {
	if c := s.guard.Cookies(); c != nil {
		setCookies(ctx, c.AccessCookie(access, life))
	}
}

// clearCookies expires the session's cookies, when the call in ctx came
// from a browser session: the call has no authorization header and
// carries one of them.
func (s *Service) clearCookies(ctx context.Context) {
	c := s.guard.Cookies()
	if c == nil || len(metadata.ValueFromIncomingContext(ctx, wire.AuthorizationKey)) > 0 ||
		!c.Holds(metadata.ValueFromIncomingContext(ctx, wire.CookieKey)) {
		return
	}
	setCookies(ctx, c.Cleared()...)
}

func setCookies(ctx context.Context, cookies ...*http.Cookie) {
	md := metadata.MD{}
	for _, c := range cookies {
		md.Append(wire.SetCookieKey, c.String())
	}
	// Fails only when the headers went out already, which no handler of
	// the service does before answering.
	_ = grpc.SetHeader(ctx, md)
}
