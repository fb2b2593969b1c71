package revocation_test

import (
	"context"
	"fmt"

	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
)

// revocationsFunc adapts a function to guard.Revocations.
type revocationsFunc func(ctx context.Context, c *token.Claims) (bool, error)

func (f revocationsFunc) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	return f(ctx, c)
}

// Any function can be a guard.Revocations in place of a Poller, for
// instance one reading a deny-list the service keeps itself. An error makes
// the Guard fail the call closed with Unavailable.
func Example_denyList() {
	denied := map[string]bool{"s2": true}
	var revs guard.Revocations = revocationsFunc(func(_ context.Context, c *token.Claims) (bool, error) {
		return denied[c.SessionID], nil
	})

	for _, sid := range []string{"s1", "s2"} {
		revoked, _ := revs.Revoked(context.Background(), &token.Claims{SessionID: sid})
		fmt.Println(sid, "revoked:", revoked)
	}
	// Output:
	// s1 revoked: false
	// s2 revoked: true
}
