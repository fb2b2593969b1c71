package tokens_test

import (
	"context"
	"fmt"

	"github.com/authd-dev/authd/authdtest/tokens"
)

// Tokens without authd: an Issuer's tokens verify with its Verifier, which
// a service under test takes as its interceptors.Verifier.
func Example() {
	h := &tokens.Harness{}
	defer h.Close()
	iss := tokens.New(h)
	claims, err := iss.Verifier.Verify(context.Background(),
		iss.Access(h, "client:billing", "s1", tokens.WithScopes("orders:read")))
	fmt.Println(claims.Subject, claims.Scopes(), err)
	// Output: client:billing [orders:read] <nil>
}
