package token_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// A Signer mints tokens with the newest key of a Keyring; a Verifier over
// the same keys (or authd's published JWKS, package jwks) checks them
// strictly. Every refusal wraps ErrInvalid or ErrExpired.
func ExampleVerifier() {
	key, _ := keys.NewKey(time.Now())
	ring, _ := keys.NewKeyring(key)
	signer, _ := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	verifier, _ := token.NewVerifier(ring)

	now := time.Now()
	raw, err := signer.Sign(token.Claims{
		Subject: "alice", Type: token.Access, SessionID: "s1", Roles: []string{"support"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
	})
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(context.Background(), raw)
	fmt.Println(claims.Subject, claims.Type, claims.HasRole("support"), err)

	_, err = verifier.Verify(context.Background(), raw+"x")
	fmt.Println(errors.Is(err, token.ErrInvalid))
	// Output:
	// alice access true <nil>
	// true
}
