package token_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authd-dev/authd/token"
)

// A token whose roles or scope claim is malformed is invalid, whoever
// signed it: names are [a-z0-9:._-], 1 to 64 bytes, at most 32 a token,
// none twice, scopes separated by single spaces.
func TestVerify_MalformedRolesOrScopeIsInvalid(t *testing.T) {
	_, signer, v, _ := newEd25519(t)
	for name, edit := range map[string]func(*token.Claims){
		"upper-case role":      func(c *token.Claims) { c.Roles = []string{"Admin"} },
		"empty role":           func(c *token.Claims) { c.Roles = []string{""} },
		"role with a space":    func(c *token.Claims) { c.Roles = []string{"a b"} },
		"role twice":           func(c *token.Claims) { c.Roles = []string{"admin", "admin"} },
		"65-byte role":         func(c *token.Claims) { c.Roles = []string{strings.Repeat("a", 65)} },
		"33 roles":             func(c *token.Claims) { c.Roles = manyNames(33) },
		"double space scope":   func(c *token.Claims) { c.Scope = "a  b" },
		"leading space scope":  func(c *token.Claims) { c.Scope = " a" },
		"scope with a slash":   func(c *token.Claims) { c.Scope = "orders/read" },
		"33 scopes":            func(c *token.Claims) { c.Scope = strings.Join(manyNames(33), " ") },
		"non-ASCII role":       func(c *token.Claims) { c.Roles = []string{"rôle"} },
		"scope with a newline": func(c *token.Claims) { c.Scope = "a\nb" },
	} {
		c := accessClaims(t0)
		edit(&c)
		raw, err := signer.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), raw); !errors.Is(err, token.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	c := accessClaims(t0)
	c.Roles, c.Scope = manyNames(32), "orders:read orders.write_1 a-b"
	raw, _ := signer.Sign(c)
	if got, err := v.Verify(context.Background(), raw); err != nil || len(got.Roles) != 32 || !got.HasScope("orders.write_1") {
		t.Fatalf("32 good roles and three scopes: %+v, %v", got, err)
	}
}

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "r" + strings.Repeat("x", i)
	}
	return out
}
