package authdtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// A test starts authd, makes a user with a role, logs in, and moves
// authd's fake clock to expire the token. In a *testing.T test, pass t
// where the example passes h.
func Example() {
	h := &tokens.Harness{} // stands for *testing.T outside a test
	defer h.Close()
	env := authdtest.New(h)
	env.AddUser(h, "sam", "sam's password", "support")
	login := env.Login(h, "sam", "sam's password")

	ctx := tokens.Bearer(context.Background(), login.GetAccessToken())
	resp, err := env.Client().Verify(ctx, &authv1.VerifyRequest{})
	fmt.Println(resp.GetClaims().GetSubject(), resp.GetClaims().GetRoles(), resp.GetClaims().GetFresh(), err)

	env.Clock.Advance(tokens.AccessTTL + time.Second)
	_, err = env.Client().Verify(ctx, &authv1.VerifyRequest{})
	fmt.Println(err)
	// Output:
	// sam [support] true <nil>
	// rpc error: code = Unauthenticated desc = Token has expired
}
