package jwks_test

import (
	"context"
	"testing"
	"time"

	"github.com/authd-dev/authd/jwks"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// A refetch that brings another key set moves the generation (and so the
// Verifier's KeysGeneration, which flushes the interceptors' cache of
// verified tokens); one that brings the same keys does not.
func TestSource_GenerationMovesWhenTheKeysChange(t *testing.T) {
	first, _ := keys.NewKey(time.Now())
	second, _ := keys.NewKey(time.Now())
	published := []token.JWK{token.NewJWK(first.Public)}
	src := jwks.New(jwks.FetcherFunc(func(context.Context) ([]token.JWK, error) { return published, nil }), jwks.Config{})
	v, err := token.NewVerifier(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	g := v.KeysGeneration()
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v.KeysGeneration() != g {
		t.Fatal("the same keys moved the generation")
	}
	published = []token.JWK{token.NewJWK(second.Public)} // the first key revoked
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if v.KeysGeneration() == g {
		t.Fatal("a revoked key did not move the generation")
	}
}
