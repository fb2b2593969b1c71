// Package revocationtest is the conformance suite of every
// guard.Revocations: run it from the checker's tests with a function that
// builds a new checker over a new origin (the store, or authd) whose
// sessions the suite can start and end.
//
// What it checks: a live session is not revoked; once the origin has ended
// a session and the checker has caught up, the session is revoked and the
// others stay live; a token without a session is never revoked; a token
// that is not its session's (another subject, other roles, a scope never
// granted) is revoked; and when the origin fails, the checker answers with an error (or, for a session it
// knows to be revoked, "revoked"), never "not revoked".
package revocationtest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
)

// Subject is a checker under test and the origin it learns from.
type Subject struct {
	// Checker is the checker under test.
	Checker guard.Revocations
	// Clock is the checker's clock; the suite moves it.
	Clock *clock.Fake
	// Login starts a session at the origin.
	Login func(t *testing.T) Session
	// Sync brings the checker up to date with the origin, as it would
	// itself in due time: nothing for a checker the origin tells at once,
	// a poll for a poller.
	Sync func(t *testing.T)
	// Break makes the origin fail from now on, and lets enough time pass
	// that the checker can no longer answer from what it knew.
	Break func(t *testing.T)
	// Unavailable, when not nil, is what the checker's errors wrap once
	// the origin is broken.
	Unavailable error
}

// Session is a session at the origin.
type Session struct {
	// Claims are the claims of one of its access tokens.
	Claims *token.Claims
	// Logout ends the session at the origin.
	Logout func(t *testing.T)
}

// Run runs the whole suite; open must return a new Subject, over a new
// origin, each call.
func Run(t *testing.T, open func(t *testing.T) Subject) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Subject)
	}{
		{"LiveSessionIsNotRevoked", testLiveSession},
		{"LoggedOutSessionIsRevoked", testLoggedOut},
		{"TokenWithoutSessionIsNotRevoked", testNoSession},
		{"FailsClosedWhenTheOriginFails", testFailsClosed},
		{"TokenThatIsNotItsSessionsIsRevoked", testNotTheSessions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func testLiveSession(t *testing.T, s Subject) {
	live := s.Login(t)
	wantRevoked(t, s, live.Claims, false, "a new session")
	s.Sync(t)
	wantRevoked(t, s, live.Claims, false, "a new session, checker synced")
	s.Clock.Advance(2 * time.Second)
	s.Sync(t)
	wantRevoked(t, s, live.Claims, false, "a new session, later")
}

func testLoggedOut(t *testing.T, s Subject) {
	gone, kept := s.Login(t), s.Login(t)
	// Checked first, so that a cache holds the live answer when the
	// session ends.
	wantRevoked(t, s, gone.Claims, false, "before logout")
	wantRevoked(t, s, kept.Claims, false, "another session, before logout")
	gone.Logout(t)
	s.Sync(t)
	wantRevoked(t, s, gone.Claims, true, "after logout")
	wantRevoked(t, s, kept.Claims, false, "another session of the same user, after logout")
	s.Clock.Advance(2 * time.Second)
	s.Sync(t)
	wantRevoked(t, s, gone.Claims, true, "after logout, later")
	wantRevoked(t, s, kept.Claims, false, "another session of the same user, later")
}

func testNoSession(t *testing.T, s Subject) {
	minted := &token.Claims{Subject: "svc", Type: token.Access, ID: token.NewID()}
	wantRevoked(t, s, minted, false, "a token without sid")
	s.Sync(t)
	wantRevoked(t, s, minted, false, "a token without sid, checker synced")
	s.Break(t)
	wantRevoked(t, s, minted, false, "a token without sid, origin broken")
}

func testFailsClosed(t *testing.T, s Subject) {
	checked, unchecked, gone := s.Login(t), s.Login(t), s.Login(t)
	s.Sync(t)
	wantRevoked(t, s, checked.Claims, false, "a live session")
	gone.Logout(t)
	s.Sync(t)
	wantRevoked(t, s, gone.Claims, true, "a logged-out session")
	s.Break(t)
	for name, c := range map[string]*token.Claims{
		"a live session checked before": checked.Claims,
		"a live session never checked":  unchecked.Claims,
	} {
		revoked, err := s.Checker.Revoked(t.Context(), c)
		if err == nil {
			t.Errorf("%s, origin broken: Revoked = %v, nil; want an error", name, revoked)
			continue
		}
		if s.Unavailable != nil && !errors.Is(err, s.Unavailable) {
			t.Errorf("%s, origin broken: %v, want %v", name, err, s.Unavailable)
		}
	}
	// A session known to be revoked may stay revoked; it must never come
	// back to life.
	if revoked, err := s.Checker.Revoked(t.Context(), gone.Claims); err == nil && !revoked {
		t.Error("a logged-out session, origin broken: Revoked = false, nil")
	}
}

// testNotTheSessions: a token of a live session whose subject or roles
// differ from the session's, or which claims a scope its account was not
// granted, is refused as revoked (one forged with a stolen signing key and
// the sid of the forger's own session), whether the checker has met the
// session before or meets it first through the forgery; the session's own
// tokens stay accepted.
func testNotTheSessions(t *testing.T, s Subject) {
	forgeries := map[string]func(c *token.Claims){
		"another subject":       func(c *token.Claims) { c.Subject = "root" },
		"an added role":         func(c *token.Claims) { c.Roles = append(slices.Clone(c.Roles), "authd:admin") },
		"other roles":           func(c *token.Claims) { c.Roles = []string{"authd:admin"} },
		"a scope never granted": func(c *token.Claims) { c.Scope = "orders:write" },
	}
	for name, forge := range forgeries {
		for _, metFirst := range []bool{true, false} {
			own := s.Login(t)
			forged := *own.Claims
			forge(&forged)
			if metFirst {
				wantRevoked(t, s, own.Claims, false, name+": the session's own token, first")
			}
			wantRevoked(t, s, &forged, true, name)
			wantRevoked(t, s, own.Claims, false, name+": the session's own token, after the forgery")
			s.Sync(t)
			wantRevoked(t, s, &forged, true, name+", checker synced")
		}
	}
}

func wantRevoked(t *testing.T, s Subject, c *token.Claims, want bool, what string) {
	t.Helper()
	revoked, err := s.Checker.Revoked(t.Context(), c)
	if err != nil || revoked != want {
		t.Fatalf("%s: Revoked = %v, %v; want %v", what, revoked, err, want)
	}
}
