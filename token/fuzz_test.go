package token_test

import (
	"context"
	"errors"
	"testing"

	"github.com/authd-dev/authd/token"
)

// FuzzVerify feeds arbitrary strings to the whole verification path: it must
// never panic, and every failure must be ErrInvalid or ErrExpired.
func FuzzVerify(f *testing.F) {
	_, signer, v, _ := newEd25519(f)
	good, err := signer.Sign(accessClaims(t0))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		good, "", ".", "..", "a.b.c", good + " ", good[:len(good)-3],
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLy4uL3gifQ.e30.AAAA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := v.Verify(context.Background(), raw)
		if err == nil {
			if claims == nil || claims.Subject == "" || (claims.Type != token.Access && claims.Type != token.Refresh) {
				t.Fatalf("accepted %q with claims %+v", raw, claims)
			}
			return
		}
		if !errors.Is(err, token.ErrInvalid) && !errors.Is(err, token.ErrExpired) && !errors.Is(err, token.ErrKeysUnavailable) {
			t.Fatalf("error %v wraps none of ErrInvalid, ErrExpired, ErrKeysUnavailable", err)
		}
	})
}
