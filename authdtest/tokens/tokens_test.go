package tokens_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/token"
)

// The minted tokens carry the claims authd's own would, and verify (or
// are expired) as their names say, in both signing modes.
func TestIssuer_MintsAsAuthdDoes(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []tokens.Option
		kid  bool
	}{
		{"EdDSA", nil, true},
		{"HS256", []tokens.Option{tokens.WithHS256([]byte(strings.Repeat("k", 32)))}, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			iss := tokens.New(t, mode.opts...)
			now := iss.Clock.Now()
			for _, tc := range []struct {
				name  string
				raw   string
				typ   token.Type
				fresh bool
				ttl   time.Duration
			}{
				{"fresh access", iss.FreshAccess(t, "alice", "s1"), token.Access, true, tokens.AccessTTL},
				{"access", iss.Access(t, "alice", "s1"), token.Access, false, tokens.AccessTTL},
				{"refresh", iss.Refresh(t, "alice", "s1"), token.Refresh, false, tokens.RefreshTTL},
			} {
				c, err := iss.Verifier.Verify(context.Background(), tc.raw)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if c.Issuer != "authd" || len(c.Audience) != 1 || c.Audience[0] != "authd" || c.Subject != "alice" ||
					c.SessionID != "s1" || c.Type != tc.typ || c.FreshAt(now) != tc.fresh || c.ID == "" ||
					!c.IssuedTime().Equal(now) || !c.NotBefore.Time.Equal(now) || !c.AuthenticatedAt().Equal(now) ||
					!c.Expiry().Equal(now.Add(tc.ttl)) {
					t.Fatalf("%s: claims = %+v", tc.name, c)
				}
				if kid := tokens.KeyID(t, tc.raw); (kid != "") != mode.kid {
					t.Fatalf("%s: kid %q", tc.name, kid)
				}
			}
			if _, err := iss.Verifier.Verify(context.Background(), iss.Expired(t, "alice", "s1")); !errors.Is(err, token.ErrExpired) {
				t.Fatalf("Expired: %v, want ErrExpired", err)
			}
		})
	}
}

// Another Issuer on the same clock stands for a forger: its tokens are
// refused for their unknown key.
func TestIssuer_ForgerSharesTheClock(t *testing.T) {
	iss := tokens.New(t)
	forger := tokens.New(t, tokens.WithClock(iss.Clock))
	iss.Clock.Advance(time.Hour)
	if !forger.Clock.Now().Equal(iss.Clock.Now()) {
		t.Fatal("WithClock did not share the clock")
	}
	if _, err := iss.Verifier.Verify(context.Background(), forger.FreshAccess(t, "alice", "s1")); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("forged token: %v, want ErrUnknownKey", err)
	}
}
