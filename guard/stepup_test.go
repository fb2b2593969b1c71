package guard_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/wire"
)

// A method that demands a second factor, a recent proof, or both: a token
// without them is refused as STEP_UP_REQUIRED (Unauthenticated, never
// PermissionDenied), naming what is required as RFC 9470 does; roles are
// checked first, since no step-up cures a missing role.
func TestDecide_StepUp(t *testing.T) {
	iss := tokens.New(t)
	const (
		factor = "/test.v1.Guarded/SecondFactor"
		recent = "/test.v1.Guarded/Recent"
		both   = "/test.v1.Guarded/RecentSecondFactor"
		admin  = "/test.v1.Guarded/AdminSecondFactor"
	)
	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: map[string]guard.Rule{
		factor: {SecondFactor: true},
		recent: {Requirement: guard.Access, MaxAge: 5 * time.Minute},
		both:   {Requirement: guard.FreshAccess, SecondFactor: true, MaxAge: 5 * time.Minute},
		admin:  {SecondFactor: true, AnyRole: []string{"admin"}},
	}})
	start := iss.Clock.Now()
	password := iss.FreshAccess(t, "alice", sid)
	second := iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor())
	old := iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor(), tokens.WithAuthTime(start.Add(-10*time.Minute)))
	for _, tc := range []struct {
		name, method, tok string
		code              codes.Code
		reason            string
		md                map[string]string
	}{
		{"no factor", factor, password, codes.Unauthenticated, wire.ReasonStepUpRequired, map[string]string{wire.MetadataACRValues: "aal2"}},
		{"second factor", factor, second, codes.OK, "", nil},
		{"stale second factor, no max_age", factor, old, codes.OK, "", nil},
		{"recent password", recent, password, codes.OK, "", nil},
		{"stale proof", recent, old, codes.Unauthenticated, wire.ReasonStepUpRequired, map[string]string{wire.MetadataMaxAge: "300"}},
		{"both: no factor", both, password, codes.Unauthenticated, wire.ReasonStepUpRequired, map[string]string{wire.MetadataACRValues: "aal2", wire.MetadataMaxAge: "300"}},
		{"both: stale factor", both, old, codes.Unauthenticated, wire.ReasonStepUpRequired, map[string]string{wire.MetadataACRValues: "aal2", wire.MetadataMaxAge: "300"}},
		{"both: fresh factor", both, second, codes.OK, "", nil},
		{"no role, no factor: the role first", admin, password, codes.PermissionDenied, wire.ReasonInsufficientRole, nil},
		{"role, no factor", admin, iss.FreshAccess(t, "root", sid, tokens.WithRoles("admin")), codes.Unauthenticated, wire.ReasonStepUpRequired, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.Decide(bg, call(tc.method, tc.tok))
			if tc.code == codes.OK {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, err, tc.code, tc.reason)
			if tc.md == nil {
				return
			}
			for _, d := range status.Convert(wire.StatusError(err)).Details() {
				if info, ok := d.(interface{ GetMetadata() map[string]string }); ok {
					for k, v := range tc.md {
						if info.GetMetadata()[k] != v {
							t.Fatalf("metadata %v, want %s=%s", info.GetMetadata(), k, v)
						}
					}
					if len(info.GetMetadata()) != len(tc.md) {
						t.Fatalf("metadata %v, want %v", info.GetMetadata(), tc.md)
					}
					return
				}
			}
			t.Fatalf("no ErrorInfo in %v", err)
		})
	}
	// The bound moves with the clock: a proof just inside it, then not.
	iss.Clock.Advance(5 * time.Minute)
	if _, err := g.Decide(bg, call(recent, password)); err != nil {
		t.Fatalf("at exactly max_age: %v", err)
	}
	iss.Clock.Advance(time.Second)
	_, err := g.Decide(bg, call(recent, password))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
}

// A step-up demand on a method that takes no access token contradicts
// itself: CheckMethods names it and its calls fail closed.
func TestCheckMethods_StepUpContradictions(t *testing.T) {
	iss := tokens.New(t)
	for _, rule := range []guard.Rule{
		{Requirement: guard.Public, SecondFactor: true},
		{Requirement: guard.Refresh, SecondFactor: true},
		{Requirement: guard.Refresh, MaxAge: time.Minute},
		{Requirement: guard.Access, MaxAge: -time.Second},
	} {
		const m = "/test.v1.Guarded/Bad"
		g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: map[string]guard.Rule{m: rule}})
		if err := g.CheckMethods([]string{m}); err == nil {
			t.Errorf("CheckMethods accepted %+v", rule)
		}
		_, err := g.Decide(bg, call(m, iss.FreshAccess(t, "alice", sid, tokens.WithSecondFactor())))
		if status.Code(wire.StatusError(err)) != codes.Internal {
			t.Errorf("a call to a method declaring %+v: %v, want Internal", rule, err)
		}
	}
}

// With SecondFactorRoles, a FRESH_ACCESS call by a holder of one of them
// also needs a second factor; other callers and other requirements are
// unchanged.
func TestDecide_SecondFactorRoles(t *testing.T) {
	iss := tokens.New(t)
	const adminChange = "/test.v1.Guarded/AdminChange"
	rules := map[string]guard.Rule{adminChange: {Requirement: guard.FreshAccess, AnyRole: []string{"authd:admin", "support"}}}
	for m, r := range methods {
		rules[m] = r
	}
	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Methods: rules, SecondFactorRoles: []string{"authd:admin"}})
	admin := iss.FreshAccess(t, "root", sid, tokens.WithRoles("authd:admin"))
	_, err := g.Decide(bg, call(adminChange, admin))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonStepUpRequired)
	if _, err := g.Decide(bg, call(adminChange, iss.FreshAccess(t, "root", sid, tokens.WithRoles("authd:admin"), tokens.WithSecondFactor()))); err != nil {
		t.Fatalf("with a second factor: %v", err)
	}
	// Let in by another role of the rule: fresh is enough.
	if _, err := g.Decide(bg, call(adminChange, iss.FreshAccess(t, "alice", sid, tokens.WithRoles("support")))); err != nil {
		t.Fatalf("another role: %v", err)
	}
	// What any fresh token may do (enrolling a second factor), and ACCESS
	// methods, stay as they are for the role's holders.
	for _, m := range []string{freshMethod, accessMethod} {
		if _, err := g.Decide(bg, call(m, admin)); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
}
