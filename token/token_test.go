package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func newEd25519(t testing.TB) (*keys.Keyring, *keys.Signer, *token.Verifier, *clock.Fake) {
	t.Helper()
	key, err := keys.NewKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, "authd", []string{"authd"})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	v, err := token.NewVerifier(ring, token.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	return ring, signer, v, clk
}

func accessClaims(now time.Time) token.Claims {
	return token.Claims{
		Subject: "alice", Type: token.Access, Fresh: token.Fresh{Value: true}, ID: "jti-1", SessionID: "sid-1",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		AuthTime: jwt.NewNumericDate(now),
	}
}

func TestSignVerify_RoundTripAndSingleStringAudience(t *testing.T) {
	_, signer, v, _ := newEd25519(t)
	raw, err := signer.Sign(accessClaims(t0))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "alice" || claims.Type != token.Access || !claims.FreshAt(t0) || claims.SessionID != "sid-1" {
		t.Fatalf("claims = %+v", claims)
	}
	again, _ := signer.Sign(accessClaims(t0))
	if again != raw {
		t.Fatal("signing the same claims twice gave different tokens; rotation grace depends on determinism")
	}
	payload := decodePayload(t, raw)
	if payload["aud"] != "authd" {
		t.Fatalf("aud = %#v, want a single string", payload["aud"])
	}
}

func TestVerify_ExpiryIsExactWithoutLeeway(t *testing.T) {
	_, signer, v, clk := newEd25519(t)
	raw, _ := signer.Sign(accessClaims(t0))
	clk.Advance(15*time.Minute - time.Second)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("one second before exp: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, token.ErrExpired) {
		t.Fatalf("at exp: %v, want ErrExpired", err)
	}
}

func TestVerify_LeewayIsBounded(t *testing.T) {
	ring, _, _, _ := newEd25519(t)
	if _, err := token.NewVerifier(ring, token.WithLeeway(61*time.Second)); err == nil {
		t.Fatal("leeway over 60s accepted")
	}
	clk := clock.NewFake(t0)
	v, err := token.NewVerifier(ring, token.WithLeeway(30*time.Second), token.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := keys.NewSigner(ring, "authd", []string{"authd"})
	raw, _ := signer.Sign(accessClaims(t0))
	clk.Advance(15*time.Minute + 29*time.Second)
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
}

func TestVerify_OversizedRefusedBeforeParsing(t *testing.T) {
	_, _, v, _ := newEd25519(t)
	huge := strings.Repeat("A", 1<<20)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := v.Verify(context.Background(), huge); !errors.Is(err, token.ErrTooLarge) {
			t.Fatalf("err = %v", err)
		}
	})
	if allocs > 1 {
		t.Fatalf("refusing a 1 MiB token allocated %v times; it must not be decoded", allocs)
	}
}

func TestHMACKey_RefusesShortSecret(t *testing.T) {
	if _, err := token.NewHMACKey(make([]byte, 31)); err == nil {
		t.Fatal("31-byte secret accepted")
	}
	if _, err := token.NewHMACKey(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
}

func TestFresh_BoolOrNumericDate(t *testing.T) {
	for _, tc := range []struct {
		json  string
		fresh bool
		err   bool
	}{
		{`true`, true, false},
		{`false`, false, false},
		{`null`, false, false},
		{`1795478400`, true, false}, // until 2026-11-24, checked at t0
		{`1795000000.5`, false, false},
		{`"true"`, false, true},
		{`{}`, false, true},
	} {
		var c token.Claims
		err := json.Unmarshal([]byte(`{"fresh":`+tc.json+`}`), &c)
		if (err != nil) != tc.err {
			t.Errorf("%s: err = %v", tc.json, err)
			continue
		}
		if err == nil && c.FreshAt(t0) != tc.fresh {
			t.Errorf("%s: FreshAt = %v, want %v", tc.json, c.FreshAt(t0), tc.fresh)
		}
	}
}

func TestThumbprint_RFC8037Example(t *testing.T) {
	// RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
	x := "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	jwk := token.JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}
	pub, err := jwk.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if token.Thumbprint(pub) != jwk.Kid {
		t.Fatalf("thumbprint = %s", token.Thumbprint(pub))
	}
	jwk.Kid = "alias"
	if _, err := jwk.PublicKey(); err == nil {
		t.Fatal("JWK whose kid is not its thumbprint accepted")
	}
}

func TestKeyring_VerifiesWithOldKeyAfterRotation(t *testing.T) {
	ring, signer, v, _ := newEd25519(t)
	raw, _ := signer.Sign(accessClaims(t0))
	old := ring.Keys()[0]
	newer, _ := keys.NewKey(t0.Add(time.Minute))
	if err := ring.Replace(old, newer); err != nil {
		t.Fatal(err)
	}
	if kid, _ := ring.SigningKey(); kid != newer.ID {
		t.Fatal("newest key is not current")
	}
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("token signed by the old key: %v", err)
	}
	if err := ring.Replace(keys.Key{ID: token.Thumbprint(old.Public), Public: old.Public}); err == nil {
		t.Fatal("keyring without a private key accepted")
	}
}

func decodePayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	var m map[string]any
	parts := strings.Split(raw, ".")
	b, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
