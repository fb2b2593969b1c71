package jwks_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// A service verifies authd's tokens with the keys authd publishes. Here the
// fetcher serves a local keyring's JWKS; a real service uses
// jwks.GRPC(authdConn) or jwks.HTTP(url, nil) instead.
func ExampleNew() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))

	// authd's side: a keyring that signs.
	key, err := keys.NewKey(clk.Now())
	if err != nil {
		log.Fatal(err)
	}
	ring, err := keys.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	if err != nil {
		log.Fatal(err)
	}
	raw, err := signer.Sign(token.Claims{
		Subject:   "alice",
		Type:      token.Access,
		SessionID: "s1",
		IssuedAt:  jwt.NewNumericDate(clk.Now()),
		ExpiresAt: jwt.NewNumericDate(clk.Now().Add(15 * time.Minute)),
	})
	if err != nil {
		log.Fatal(err)
	}

	// The service's side: public keys only, fetched when first needed.
	fetches := 0
	published := jwks.FetcherFunc(func(context.Context) ([]token.JWK, error) {
		fetches++
		return ring.JWKS(), nil
	})
	source := jwks.New(published, jwks.Config{Clock: clk})
	verifier, err := token.NewVerifier(source, token.WithClock(clk))
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		claims, err := verifier.Verify(ctx, raw)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(claims.Subject, claims.Type)
	}
	fmt.Println("fetches:", fetches)
	// Output:
	// alice access
	// alice access
	// alice access
	// fetches: 1
}

// A token naming a kid the Source does not know makes it refetch, at most
// once per cooldown, counted from the last fetch: forged kids cannot make it
// hammer authd.
func ExampleConfig_cooldown() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	key, err := keys.NewKey(clk.Now())
	if err != nil {
		log.Fatal(err)
	}
	fetches := 0
	source := jwks.New(jwks.FetcherFunc(func(context.Context) ([]token.JWK, error) {
		fetches++
		return []token.JWK{token.NewJWK(key.Public)}, nil
	}), jwks.Config{Clock: clk}) // jwks.DefaultCooldown: 5 s

	kids := []struct{ name, kid string }{{"authd's", key.ID}, {"forged 1", "forged-1"}, {"forged 2", "forged-2"}}
	for _, k := range kids {
		_, err := source.VerificationKey(ctx, k.kid)
		fmt.Printf("%s kid known: %t, fetches: %d\n", k.name, err == nil, fetches)
	}

	clk.Advance(jwks.DefaultCooldown)
	_, err = source.VerificationKey(ctx, "forged-3")
	fmt.Printf("after the cooldown, forged 3 known: %t, fetches: %d\n", err == nil, fetches)
	// Output:
	// authd's kid known: true, fetches: 1
	// forged 1 kid known: false, fetches: 1
	// forged 2 kid known: false, fetches: 1
	// after the cooldown, forged 3 known: false, fetches: 2
}
