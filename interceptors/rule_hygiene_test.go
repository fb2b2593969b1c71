package interceptors_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
)

const whoAmI = "/example.v1.GreeterService/WhoAmI"

// A rule with a requirement no one knows is contradictory: the strict
// check names it rather than let a method that can never be called start.
func TestCheckServer_NamesUnknownRequirement(t *testing.T) {
	iss := tokens.New(t)
	for name, opt := range map[string]interceptors.Option{
		"rule":             interceptors.WithMethod(whoAmI, interceptors.Rule{Requirement: 42, AnyRole: []string{"admin"}}),
		"bare requirement": interceptors.WithMethod(whoAmI, interceptors.Requirement(42)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := greeter.NewServer(iss.Verifier, iss.Clock, opt)
			var ruleErr *interceptors.RuleError
			if !errors.As(err, &ruleErr) || ruleErr.Method != whoAmI {
				t.Fatalf("NewServer = %v, want a RuleError naming %s", err, whoAmI)
			}
		})
	}
}

// Rules are copied when declared and when read: changing the caller's
// slices afterwards, or the slices Rule returns, changes nothing enforced.
func TestRule_SlicesAreNotShared(t *testing.T) {
	iss := tokens.New(t)
	roles := []string{"admin"}
	client := newGreeter(t, iss, interceptors.WithMethod(whoAmI, interceptors.Rule{AnyRole: roles}))
	roles[0] = "support" // after New: must not open the method to support
	c := iss.Claims("access", "alice", sid)
	c.Roles = []string{"support"}
	_, err := client.WhoAmI(tokens.Bearer(bg, iss.Sign(t, c)), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.PermissionDenied, "INSUFFICIENT_ROLE")

	a := interceptors.New(iss.Verifier, interceptors.WithMethod(whoAmI, interceptors.Rule{AnyRole: []string{"admin"}}))
	a.Rule(whoAmI).AnyRole[0] = "support"
	if got := a.Rule(whoAmI).AnyRole[0]; got != "admin" {
		t.Fatalf("the enforced rule was changed through Rule(): %q", got)
	}
}
