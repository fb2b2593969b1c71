package token_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/authd-dev/authd/token"
)

// FuzzVerify feeds arbitrary strings to the whole verification path: it must
// never panic, and every failure must be ErrInvalid or ErrExpired.
func FuzzVerify(f *testing.F) {
	ring, signer, v, _ := newEd25519(f)
	good, err := signer.Sign(accessClaims(t0))
	if err != nil {
		f.Fatal(err)
	}
	// Signed with the key, its sub not UTF-8: a seed for the property
	// below.
	kid, priv := ring.SigningKey()
	in := b64url(fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":"at+jwt"}`, kid)) + "." +
		b64url(fmt.Sprintf("{\"iss\":\"authd\",\"aud\":\"authd\",\"sub\":\"ali\xffce\",\"type\":\"access\",\"fresh\":false,\"jti\":\"j\",\"sid\":\"s\",\"iat\":%d,\"exp\":%d}",
			t0.Unix(), t0.Add(time.Minute).Unix()))
	notUTF8 := in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv.(ed25519.PrivateKey), []byte(in)))
	for _, seed := range []string{
		good, notUTF8, "", ".", "..", "a.b.c", good + " ", good[:len(good)-3],
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
			// One spelling: what is accepted is UTF-8 throughout, as
			// every other JOSE implementation requires.
			for _, seg := range strings.Split(raw, ".")[:2] {
				if b, err := base64.RawURLEncoding.DecodeString(seg); err != nil || !utf8.Valid(b) {
					t.Fatalf("accepted %q, whose segment %q is not UTF-8 (%v)", raw, seg, err)
				}
			}
			return
		}
		if !errors.Is(err, token.ErrInvalid) && !errors.Is(err, token.ErrExpired) && !errors.Is(err, token.ErrKeysUnavailable) {
			t.Fatalf("error %v wraps none of ErrInvalid, ErrExpired, ErrKeysUnavailable", err)
		}
	})
}
