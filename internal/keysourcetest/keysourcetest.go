// Package keysourcetest is the conformance suite of every token.KeySource
// that holds a copy of keys kept elsewhere (its origin): keys.Ring over a
// key backend, jwks.Source over authd's published keys. Run it from the
// source's tests with a function that builds a new source over a new
// origin.
//
// What it checks, always through a token.Verifier: the origin's current
// key verifies; a kid the source has never heard of is token.ErrUnknownKey,
// never token.ErrKeysUnavailable; a key added at the origin verifies once
// the cooldown allows a reload, and the keys before it still do; and
// however many forged kids arrive, the source reads its origin at most once
// per cooldown.
package keysourcetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// Subject is a key source under test and the origin it reads.
type Subject struct {
	// Source is the key source under test.
	Source token.KeySource
	// Clock is the source's clock; the suite moves it.
	Clock *clock.Fake
	// Cooldown is the least time the source leaves between two reads of
	// its origin caused by unknown kids.
	Cooldown time.Duration
	// Rotate adds a key at the origin, which becomes its current key. The
	// suite moves the clock on before each call, so that the new key is
	// the newest.
	Rotate func(t *testing.T)
	// Mint signs c with the origin's current key.
	Mint func(t *testing.T, c token.Claims) string
	// Loads counts the source's reads of its origin so far (fetches,
	// reloads), as a counting wrapper around the origin sees them.
	Loads func() int
}

// Run runs the whole suite; open must return a new Subject, over a new
// origin, each call.
func Run(t *testing.T, open func(t *testing.T) Subject) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Subject)
	}{
		{"CurrentKeyVerifies", testCurrentKeyVerifies},
		{"UnknownKidIsUnknownKey", testUnknownKid},
		{"RotatedKeyVerifiesAfterCooldown", testRotatedKeyVerifies},
		{"TokensSignedBeforeRotationStillVerify", testOldTokensStillVerify},
		{"ForgedKidStormLoadsOncePerCooldown", testForgedKidStorm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func testCurrentKeyVerifies(t *testing.T, s Subject) {
	v := verifier(t, s)
	c := claims(s.Clock.Now())
	raw := s.Mint(t, c)
	got, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
	if got.Subject != c.Subject || got.ID != c.ID {
		t.Fatalf("verified claims sub=%q jti=%q, want %q %q", got.Subject, got.ID, c.Subject, c.ID)
	}
	loads := s.Loads()
	for range 3 {
		if _, err := v.Verify(t.Context(), raw); err != nil {
			t.Fatalf("verifying again: %v", err)
		}
	}
	if n := s.Loads() - loads; n != 0 {
		t.Fatalf("a known kid caused %d reads of the origin, want none", n)
	}
}

func testUnknownKid(t *testing.T, s Subject) {
	v := verifier(t, s)
	wantUnknown := func(when string) {
		t.Helper()
		_, err := v.Verify(t.Context(), forge(t, s.Clock.Now()))
		if !errors.Is(err, token.ErrUnknownKey) || errors.Is(err, token.ErrKeysUnavailable) {
			t.Fatalf("%s: a kid the source never heard of: %v, want ErrUnknownKey and not ErrKeysUnavailable", when, err)
		}
	}
	wantUnknown("cold source")
	if _, err := v.Verify(t.Context(), s.Mint(t, claims(s.Clock.Now()))); err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
	wantUnknown("warm source, within the cooldown")
	s.Clock.Advance(s.Cooldown)
	wantUnknown("warm source, after the cooldown")
}

func testRotatedKeyVerifies(t *testing.T, s Subject) {
	v := verifier(t, s)
	old := s.Mint(t, claims(s.Clock.Now()))
	if _, err := v.Verify(t.Context(), old); err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
	s.Clock.Advance(time.Second)
	s.Rotate(t)
	rotated := s.Mint(t, claims(s.Clock.Now()))
	if tokens.KeyID(t, rotated) == tokens.KeyID(t, old) {
		t.Fatal("Rotate did not change the origin's current key")
	}
	// Within the cooldown of its last read the source may not have seen
	// the new key yet; then the token is unknown, and nothing else.
	if _, err := v.Verify(t.Context(), rotated); err != nil && !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("token of the new key, within the cooldown: %v, want success or ErrUnknownKey", err)
	}
	s.Clock.Advance(s.Cooldown)
	loads := s.Loads()
	if _, err := v.Verify(t.Context(), rotated); err != nil {
		t.Fatalf("token of the new key, after the cooldown: %v", err)
	}
	if _, err := v.Verify(t.Context(), rotated); err != nil {
		t.Fatalf("token of the new key, again: %v", err)
	}
	if n := s.Loads() - loads; n > 1 {
		t.Fatalf("learning one new key took %d reads of the origin, want at most 1", n)
	}
}

func testOldTokensStillVerify(t *testing.T, s Subject) {
	v := verifier(t, s)
	tokens := []string{s.Mint(t, claims(s.Clock.Now()))}
	for range 2 {
		s.Clock.Advance(time.Second)
		s.Rotate(t)
		tokens = append(tokens, s.Mint(t, claims(s.Clock.Now())))
	}
	s.Clock.Advance(s.Cooldown)
	// The newest first, so that the source has reloaded before it sees the
	// older ones.
	for i := len(tokens) - 1; i >= 0; i-- {
		if _, err := v.Verify(t.Context(), tokens[i]); err != nil {
			t.Fatalf("token signed %d rotation(s) before the current key: %v", len(tokens)-1-i, err)
		}
	}
}

// stormSize is how many forged kids a storm brings.
const stormSize = 64

func testForgedKidStorm(t *testing.T, s Subject) {
	v := verifier(t, s)
	if _, err := v.Verify(t.Context(), s.Mint(t, claims(s.Clock.Now()))); err != nil {
		t.Fatalf("token of the current key: %v", err)
	}
	storm := func() {
		t.Helper()
		forged := make([]string, stormSize)
		for i := range forged {
			forged[i] = forge(t, s.Clock.Now())
		}
		errs := make([]error, len(forged))
		var wg sync.WaitGroup
		for i, raw := range forged {
			wg.Go(func() { _, errs[i] = v.Verify(t.Context(), raw) })
		}
		wg.Wait()
		for _, err := range errs {
			if !errors.Is(err, token.ErrUnknownKey) {
				t.Fatalf("forged kid: %v, want ErrUnknownKey", err)
			}
		}
	}
	start := s.Loads()
	storm()
	s.Clock.Advance(s.Cooldown / 2)
	storm()
	if n := s.Loads() - start; n > 1 {
		t.Fatalf("two storms of %d forged kids within one cooldown caused %d reads of the origin, want at most 1", stormSize, n)
	}
	s.Clock.Advance(s.Cooldown - s.Cooldown/2)
	next := s.Loads()
	storm()
	// Once the cooldown is over the source must go back to its origin (a
	// forged kid looks like a rotated one), but only once.
	if n := s.Loads() - next; n != 1 {
		t.Fatalf("a storm after the cooldown caused %d reads of the origin, want exactly 1", n)
	}
}

func verifier(t *testing.T, s Subject) *token.Verifier {
	t.Helper()
	v, err := token.NewVerifier(s.Source, token.WithClock(s.Clock))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// claims are an access token's, issued at now.
func claims(now time.Time) token.Claims {
	return token.Claims{
		Subject: "alice", Type: token.Access, Fresh: token.Fresh{Value: true},
		ID: token.NewID(), SessionID: token.NewID(),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), AuthTime: jwt.NewNumericDate(now),
	}
}

// forge signs a token with a new key that no origin holds: right issuer and
// audience, valid signature, a kid nobody published.
func forge(t *testing.T, now time.Time) string {
	t.Helper()
	key, err := keys.NewKey(now)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign(claims(now))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
