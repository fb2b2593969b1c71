package service_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/session"
)

// CheckSession answers live (with the cap) for a session authd knows and
// has not revoked, not live for a revoked, unknown or capped one, and
// refuses what cannot be a sid.
func TestCheckSession(t *testing.T) {
	e := newEnv(t)
	login := e.Login(t, "alice", "correct horse")
	c, err := e.Verifier.Verify(bg, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	check := func(sid string) (*authv1.CheckSessionResponse, error) {
		return e.Client.CheckSession(bg, &authv1.CheckSessionRequest{Sid: sid})
	}
	resp, err := check(c.SessionID)
	if err != nil || !resp.Live || resp.ExpiresAt != e.Clock.Now().Add(session.DefaultSessionMax).Unix() {
		t.Fatalf("a live session: %v, %v", resp, err)
	}
	if resp, err := check("bm8tc3VjaC1zZXNzaW9u"); err != nil || resp.Live {
		t.Fatalf("an unknown session: %v, %v", resp, err)
	}
	if _, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	if resp, err := check(c.SessionID); err != nil || resp.Live {
		t.Fatalf("a revoked session: %v, %v", resp, err)
	}
	for _, bad := range []string{"", "a b", "ab\x00", strings.Repeat("a", 65), "é"} {
		_, err := check(bad)
		tokens.WantRefusal(t, err, codes.InvalidArgument, "")
	}
}
