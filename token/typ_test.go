package token_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// headerOf decodes a compact token's JOSE header.
func headerOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// Every token authd mints is explicitly typed (RFC 8725 section 3.11):
// access tokens at+jwt (RFC 9068), refresh tokens refresh+jwt, with
// Ed25519 and with HS256 alike.
func TestSigner_TypesTokens(t *testing.T) {
	_, ed, _, _ := newEd25519(t)
	hkey, err := token.NewHMACKey([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := keys.NewSigner(hkey, "authd", []string{"authd"})
	if err != nil {
		t.Fatal(err)
	}
	for name, signer := range map[string]*keys.Signer{"EdDSA": ed, "HS256": hs} {
		for typ, want := range map[token.Type]string{token.Access: "at+jwt", token.Refresh: "refresh+jwt"} {
			c := accessClaims(t0)
			c.Type = typ
			raw, err := signer.Sign(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := headerOf(t, raw)["typ"]; got != want {
				t.Errorf("%s %s token: typ %v, want %s", name, typ, got, want)
			}
		}
	}
}

// typSigner signs any header and payload, as a holder of the key could.
type typSigner func(header, payload string) string

func edSigner(t *testing.T) (typSigner, *token.Verifier, string) {
	t.Helper()
	ring, _, v, _ := newEd25519(t)
	key := ring.Keys()[0]
	return func(h, p string) string {
		in := b64url(h) + "." + b64url(p)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key.Private, []byte(in)))
	}, v, key.ID
}

func hsSigner(t *testing.T) (typSigner, *token.Verifier) {
	t.Helper()
	secret := []byte(strings.Repeat("s", 32))
	key, err := token.NewHMACKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(key, token.WithClock(clock.NewFake(t0)))
	if err != nil {
		t.Fatal(err)
	}
	return func(h, p string) string {
		in := b64url(h) + "." + b64url(p)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}, v
}

func typedPayload(typ token.Type, exp time.Time) string {
	return fmt.Sprintf(`{"iss":"authd","aud":"authd","sub":"alice","type":%q,"fresh":false,"jti":"j","sid":"s","iat":%d,"exp":%d}`,
		typ, t0.Add(-time.Hour).Unix(), exp.Unix())
}

// The verifier checks typ against the type claim: with Ed25519 only the
// typ of the token's type passes (a refresh token typed as an access
// token, an untyped token or a bare JWT are refused, even when signed with
// authd's key); with HS256, the flask-jwt-extended interop mode, tokens
// typed JWT or not at all pass too, since flask writes them so, but a
// typ contradicting the type claim is still refused. A wrong typ is said
// before expiry, so that a client never refreshes in answer to it.
func TestVerifier_ChecksTypAgainstType(t *testing.T) {
	ed, edV, kid := edSigner(t)
	hs, hsV := hsSigner(t)
	later, earlier := t0.Add(time.Hour), t0.Add(-time.Minute)
	edHeader := func(typ string) string {
		if typ == "" {
			return fmt.Sprintf(`{"alg":"EdDSA","kid":%q}`, kid)
		}
		return fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%q}`, kid, typ)
	}
	hsHeader := func(typ string) string {
		if typ == "" {
			return `{"alg":"HS256"}`
		}
		return fmt.Sprintf(`{"alg":"HS256","typ":%q}`, typ)
	}
	for _, tc := range []struct {
		name   string
		raw    string
		v      *token.Verifier
		wantOK bool
		want   error
	}{
		{"EdDSA access at+jwt", ed(edHeader("at+jwt"), typedPayload(token.Access, later)), edV, true, nil},
		{"EdDSA refresh refresh+jwt", ed(edHeader("refresh+jwt"), typedPayload(token.Refresh, later)), edV, true, nil},
		{"EdDSA access application/AT+JWT", ed(edHeader("application/AT+JWT"), typedPayload(token.Access, later)), edV, true, nil},
		{"EdDSA refresh typed at+jwt", ed(edHeader("at+jwt"), typedPayload(token.Refresh, later)), edV, false, token.ErrWrongTyp},
		{"EdDSA access typed refresh+jwt", ed(edHeader("refresh+jwt"), typedPayload(token.Access, later)), edV, false, token.ErrWrongTyp},
		{"EdDSA access typ JWT", ed(edHeader("JWT"), typedPayload(token.Access, later)), edV, false, token.ErrWrongTyp},
		{"EdDSA access untyped", ed(edHeader(""), typedPayload(token.Access, later)), edV, false, token.ErrWrongTyp},
		{"EdDSA unknown type at+jwt", ed(edHeader("at+jwt"), typedPayload("id", later)), edV, false, token.ErrInvalid},
		{"EdDSA expired, wrong typ", ed(edHeader("JWT"), typedPayload(token.Access, earlier)), edV, false, token.ErrWrongTyp},
		{"EdDSA expired, right typ", ed(edHeader("at+jwt"), typedPayload(token.Access, earlier)), edV, false, token.ErrExpired},
		{"HS256 flask access typ JWT", hs(hsHeader("JWT"), typedPayload(token.Access, later)), hsV, true, nil},
		{"HS256 flask refresh untyped", hs(hsHeader(""), typedPayload(token.Refresh, later)), hsV, true, nil},
		{"HS256 authd access at+jwt", hs(hsHeader("at+jwt"), typedPayload(token.Access, later)), hsV, true, nil},
		{"HS256 refresh typed at+jwt", hs(hsHeader("at+jwt"), typedPayload(token.Refresh, later)), hsV, false, token.ErrWrongTyp},
		{"HS256 access typed dpop+jwt", hs(hsHeader("dpop+jwt"), typedPayload(token.Access, later)), hsV, false, token.ErrWrongTyp},
	} {
		c, err := tc.v.Verify(context.Background(), tc.raw)
		switch {
		case tc.wantOK && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case !tc.wantOK && (err == nil || !errors.Is(err, tc.want)):
			t.Errorf("%s: %v, %v; want %v", tc.name, c, err, tc.want)
		}
	}
}

// A payload or header that is not UTF-8 is refused, as PyJWT refuses it:
// encoding/json would read the bytes as U+FFFD, so that tokens differing
// in them would read alike.
func TestVerifier_RefusesInvalidUTF8(t *testing.T) {
	ed, v, kid := edSigner(t)
	hdr := fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":"at+jwt"}`, kid)
	good := typedPayload(token.Access, t0.Add(time.Hour))
	if _, err := v.Verify(context.Background(), ed(hdr, good)); err != nil {
		t.Fatalf("the valid token: %v", err)
	}
	for name, raw := range map[string]string{
		"payload": ed(hdr, strings.Replace(good, `"sub":"alice"`, "\"sub\":\"ali\xffce\"", 1)),
		"header":  ed(strings.Replace(hdr, `"typ"`, "\"x\":\"\xc3\",\"typ\"", 1), good),
	} {
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("invalid UTF-8 in the %s: %v, want ErrMalformed", name, err)
		}
	}
}

// WithUntypedTokens, for the upgrade from an authd that did not type its
// tokens, accepts their typ JWT or none with Ed25519 too (the type claim
// still tells access from refresh); a typ that contradicts the type claim
// is still refused.
func TestVerifier_WithUntypedTokens(t *testing.T) {
	key, err := keys.NewKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ring, token.WithClock(clock.NewFake(t0)), token.WithUntypedTokens())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(h, p string) string {
		in := b64url(h) + "." + b64url(p)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key.Private, []byte(in)))
	}
	later := t0.Add(time.Hour)
	for typ, wantOK := range map[string]bool{`"JWT"`: true, "": true, `"at+jwt"`: true, `"refresh+jwt"`: false} {
		h := fmt.Sprintf(`{"alg":"EdDSA","kid":%q}`, key.ID)
		if typ != "" {
			h = fmt.Sprintf(`{"alg":"EdDSA","kid":%q,"typ":%s}`, key.ID, typ)
		}
		c, err := v.Verify(context.Background(), sign(h, typedPayload(token.Access, later)))
		if wantOK && (err != nil || c.Type != token.Access) {
			t.Errorf("typ %s: %v, %v; want accepted", typ, c, err)
		}
		if !wantOK && !errors.Is(err, token.ErrWrongTyp) {
			t.Errorf("typ %s: %v; want ErrWrongTyp", typ, err)
		}
	}
}
