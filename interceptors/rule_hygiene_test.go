package interceptors_test

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
)

const whoAmI = "/example.v1.GreeterService/WhoAmI"

// A rule with a requirement no one knows is contradictory: the strict
// check names it rather than let a method that can never be called start.
func TestCheckServer_NamesUnknownRequirement(t *testing.T) {
	iss := tokens.New(t)
	for name, rule := range map[string]guard.Rule{
		"rule":             {Requirement: 42, AnyRole: []string{"admin"}},
		"bare requirement": {Requirement: guard.Requirement(42)},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := guard.Config{Methods: map[string]guard.Rule{whoAmI: rule}}
			_, err := greeter.NewServer(greeterGuard(iss.Verifier, iss.Clock, cfg), iss.Clock)
			var ruleErr *guard.RuleError
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
	cfg := guard.Config{Methods: map[string]guard.Rule{whoAmI: {AnyRole: roles}}}
	client := newGreeter(t, iss, cfg)
	roles[0] = "support" // after New: must not open the method to support
	c := iss.Claims("access", "alice", sid)
	c.Roles = []string{"support"}
	_, err := client.WhoAmI(tokens.Bearer(bg, iss.Sign(t, c)), &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.PermissionDenied, "INSUFFICIENT_ROLE")

	g := guard.New(iss.Verifier, guard.Config{Methods: map[string]guard.Rule{whoAmI: {AnyRole: []string{"admin"}}}})
	g.Rule(whoAmI).AnyRole[0] = "support"
	if got := g.Rule(whoAmI).AnyRole[0]; got != "admin" {
		t.Fatalf("the enforced rule was changed through Rule(): %q", got)
	}
}
