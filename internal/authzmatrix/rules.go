package authzmatrix

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
)

// The authorization matrix: every caller against a role rule (any of admin,
// support) and a scope rule (orders:read), unary and streaming, declared in
// a .proto option and in Go. Authentication comes first: no token and an
// expired token are refused as such, a refresh token as the wrong type,
// whatever the rule; a valid token lacking a role or scope is
// PermissionDenied, never Unauthenticated.
func testMatrix(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{rulesService}, []authzService{rulesService}, guard.Config{})
	for _, row := range []struct {
		caller      string
		role, scope string
	}{
		{NoToken, missing, missing},
		{ExpiredToken, expired, expired},
		{RefreshAdmin, wrongType, wrongType},
		{NoRole, roleDenied, scopeDenied},
		{WrongRole, roleDenied, scopeDenied},
		{Lookalikes, roleDenied, scopeDenied},
		{RightRole, ok, scopeDenied},
		{ScopeMissing, ok, scopeDenied},
		{ScopePresent, roleDenied, ok},
		{ServiceAccount, roleDenied, ok},
	} {
		for _, source := range []string{fromProto, fromGo} {
			for _, method := range []struct {
				name, want, required string
			}{
				{"Role", row.role, "admin support"},
				{"RoleStream", row.role, "admin support"},
				{"Scope", row.scope, "orders:read"},
				{"ScopeStream", row.scope, "orders:read"},
			} {
				full := "/" + serviceName(source, rulesService) + "/" + method.name
				t.Run(row.caller+"/"+source+"/"+method.name, func(t *testing.T) {
					before := w.ran.Load()
					got, err := w.call(row.caller, full)
					WantOutcome(t, err, method.want, method.required)
					if method.want != ok {
						if w.ran.Load() != before {
							t.Fatal("the handler ran")
						}
						return
					}
					if got.Subject != SubjectOf(row.caller) {
						t.Fatalf("handler saw subject %q, want %q", got.Subject, SubjectOf(row.caller))
					}
				})
			}
		}
	}
}

// What a rule means beyond the matrix, for every source: a rule without a
// requirement is ACCESS; FRESH_ACCESS with a role needs both, freshness
// first; OPTIONAL with a role lets anonymous callers in but not tokens
// without the role; a service's default rule covers the methods that
// declare nothing, and a method's own declaration wins over it.
func testRuleSemantics(t *testing.T, tr Transport) {
	services := []authzService{rulesService, defaultedService}
	w := newStrictWorld(t, tr, services, services, guard.Config{})
	for _, tc := range []struct {
		service   authzService
		method    string
		caller    string
		want      string
		required  string
		anonymous bool // the handler runs without claims
	}{
		// A rule without a requirement is ACCESS: a refresh token is the
		// wrong type even when it carries the role, a non-fresh access
		// token will do.
		{rulesService, "Role", RefreshAdmin, wrongType, "", false},
		{rulesService, "Role", RightRole, ok, "", false},
		{rulesService, "Empty", NoToken, missing, "", false},
		{rulesService, "Empty", RefreshAdmin, wrongType, "", false},
		{rulesService, "Empty", NoRole, ok, "", false},
		{rulesService, "EmptyStream", ServiceAccount, ok, "", false},

		// all_scopes: every one of them, in any order; with any_role,
		// both the role and the scopes.
		{rulesService, "BothScopes", ScopePresent, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", ScopeMissing, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", ServiceAccount, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", BothScopes, ok, "", false},
		{rulesService, "RoleAndScopes", BothScopes, roleDenied, "admin", false},
		{rulesService, "RoleAndScopes", Admin, scopeDenied, "orders:read orders:write", false},
		{rulesService, "RoleAndScopes", ScopeMissing, scopeDenied, "orders:read orders:write", false},
		{rulesService, "RoleAndScopes", AdminAndScopes, ok, "", false},

		// FRESH_ACCESS and a role: both. A token that is not fresh hears
		// FRESH_TOKEN_REQUIRED before its roles are looked at.
		{rulesService, "FreshAdmin", NoToken, missing, "", false},
		{rulesService, "FreshAdmin", ExpiredToken, expired, "", false},
		{rulesService, "FreshAdmin", RefreshAdmin, wrongType, "", false},
		{rulesService, "FreshAdmin", NoRole, notFresh, "", false},
		{rulesService, "FreshAdmin", Admin, notFresh, "", false},
		{rulesService, "FreshAdmin", ServiceAccount, notFresh, "", false},
		{rulesService, "FreshAdmin", FreshNoRole, roleDenied, "admin", false},
		{rulesService, "FreshAdmin", FreshAdmin, ok, "", false},
		{rulesService, "FreshAdminStream", Admin, notFresh, "", false},
		{rulesService, "FreshAdminStream", FreshNoRole, roleDenied, "admin", false},
		{rulesService, "FreshAdminStream", FreshAdmin, ok, "", false},

		// sender_constrained: a bearer token is DPOP_PROOF_REQUIRED, after
		// what authentication says of it.
		{rulesService, "SenderConstrained", NoToken, missing, "", false},
		{rulesService, "SenderConstrained", ExpiredToken, expired, "", false},
		{rulesService, "SenderConstrained", RefreshAdmin, wrongType, "", false},
		{rulesService, "SenderConstrained", NoRole, bound, "", false},
		{rulesService, "SenderConstrained", Admin, bound, "", false},
		{rulesService, "SenderConstrainedStream", ServiceAccount, bound, "", false},

		// OPTIONAL and a role: no token runs anonymously; a token sent
		// must be valid and carry the role.
		{rulesService, "OptionalRole", NoToken, ok, "", true},
		{rulesService, "OptionalRole", ExpiredToken, expired, "", false},
		{rulesService, "OptionalRole", NoRole, roleDenied, "admin", false},
		{rulesService, "OptionalRole", ServiceAccount, roleDenied, "admin", false},
		{rulesService, "OptionalRole", Admin, ok, "", false},

		// The service's default rule (admin) covers methods that declare
		// nothing, unary and stream.
		{defaultedService, "Inherits", NoToken, missing, "", false},
		{defaultedService, "Inherits", RefreshAdmin, wrongType, "", false},
		{defaultedService, "Inherits", ScopePresent, roleDenied, "admin", false},
		{defaultedService, "Inherits", RightRole, roleDenied, "admin", false},
		{defaultedService, "Inherits", Admin, ok, "", false},
		{defaultedService, "InheritsStream", ServiceAccount, roleDenied, "admin", false},
		{defaultedService, "InheritsStream", Admin, ok, "", false},
		// A method's own rule replaces the default: scope, no role.
		{defaultedService, "OwnRule", NoRole, scopeDenied, "orders:read", false},
		{defaultedService, "OwnRule", ScopeMissing, scopeDenied, "orders:read", false},
		{defaultedService, "OwnRule", ScopePresent, ok, "", false},
		{defaultedService, "OwnRule", ServiceAccount, ok, "", false},
		// And so does a bare requirement (Go: Rule{Requirement: guard.Public}).
		{defaultedService, "OwnRequirement", NoToken, ok, "", true},
		{defaultedService, "OwnRequirement", NoRole, ok, "", true},
	} {
		for _, source := range []string{fromProto, fromGo} {
			full := "/" + serviceName(source, tc.service) + "/" + tc.method
			t.Run(source+"/"+tc.service.name+"/"+tc.method+"/"+tc.caller, func(t *testing.T) {
				before := w.ran.Load()
				got, err := w.call(tc.caller, full)
				WantOutcome(t, err, tc.want, tc.required)
				switch {
				case tc.want != ok && w.ran.Load() != before:
					t.Fatal("the handler ran")
				case tc.want != ok:
				case tc.anonymous && got.Subject != "anonymous":
					t.Fatalf("handler saw %q, want no claims", got.Subject)
				case !tc.anonymous && got.Subject != SubjectOf(tc.caller):
					t.Fatalf("handler saw %q, want %q", got.Subject, SubjectOf(tc.caller))
				}
			})
		}
	}

	// The requirement each resolves to, as Rule reports it.
	for _, tc := range []struct {
		service authzService
		method  string
		want    guard.Rule
	}{
		{rulesService, "Role", guard.Rule{Requirement: guard.Access, AnyRole: []string{"admin", "support"}}},
		{rulesService, "Empty", guard.Rule{Requirement: guard.Access}},
		{rulesService, "SenderConstrained", guard.Rule{Requirement: guard.Access, SenderConstrained: true}},
		{defaultedService, "Inherits", guard.Rule{Requirement: guard.Access, AnyRole: []string{"admin"}}},
		{defaultedService, "OwnRequirement", guard.Rule{Requirement: guard.Public}},
	} {
		for _, source := range []string{fromProto, fromGo} {
			full := "/" + serviceName(source, tc.service) + "/" + tc.method
			if got := w.guard.Rule(full); !equalRules(got, tc.want) {
				t.Errorf("Rule(%s) = %+v, want %+v", full, got, tc.want)
			}
		}
	}
}

// In a .proto, a rule without a requirement takes the method's
// (auth.v1.requirement): here FRESH_ACCESS, so with any_role admin a
// non-fresh admin is refused as not fresh and a fresh caller without the
// role as lacking it.
func testProtoRuleTakesTheMethodsRequirement(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{layeredService}, nil, guard.Config{})
	for _, method := range []string{"RoleOnFresh", "RoleOnFreshStream"} {
		full := "/authz.v1.Layered/" + method
		if got, want := w.guard.Rule(full), freshAdminRule; !equalRules(got, want) {
			t.Errorf("Rule(%s) = %+v, want %+v", full, got, want)
		}
		for _, tc := range []struct{ caller, want, required string }{
			{NoToken, missing, ""},
			{Admin, notFresh, ""},
			{NoRole, notFresh, ""},
			{FreshNoRole, roleDenied, "admin"},
			{FreshAdmin, ok, ""},
		} {
			t.Run(method+"/"+tc.caller, func(t *testing.T) {
				_, err := w.call(tc.caller, full)
				WantOutcome(t, err, tc.want, tc.required)
			})
		}
	}
}

// A service account's token has no auth_time, so no fresh-for window makes
// it fresh: a FRESH_ACCESS rule refuses it, while a user who logged in
// within the window passes on to the role check.
func testServiceAccountIsNeverFresh(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{rulesService}, []authzService{rulesService},
		guard.Config{FreshMaxAge: 5 * time.Minute})
	for _, source := range []string{fromProto, fromGo} {
		full := "/" + serviceName(source, rulesService) + "/FreshAdmin"
		for _, tc := range []struct{ caller, want, required string }{
			{ServiceAccount, notFresh, ""},
			{NoRole, roleDenied, "admin"},
			{Admin, ok, ""},
		} {
			t.Run(source+"/"+tc.caller, func(t *testing.T) {
				_, err := w.call(tc.caller, full)
				WantOutcome(t, err, tc.want, tc.required)
			})
		}
	}
}

// In Go, Config.Services gives a Rule to the whole service, overriding
// its proto options, and Config.Methods wins over both; rules of a bare
// requirement work too.
func testGoServiceRuleAndMethodOverride(t *testing.T, tr Transport) {
	protoRules := serviceName(fromProto, rulesService)
	w := newStrictWorld(t, tr, []authzService{rulesService}, nil, guard.Config{
		Services: map[string]guard.Rule{protoRules: {AllScopes: []string{"orders:write"}}},
		Methods: map[string]guard.Rule{
			"/" + protoRules + "/Role":       {AnyRole: []string{"auditor"}},
			"/" + protoRules + "/RoleStream": {Requirement: guard.Public},
			"/" + protoRules + "/Empty":      {Requirement: guard.Access},
		},
	})
	for _, tc := range []struct {
		method, caller, want, required string
	}{
		// The service's Go rule replaces the proto's scope rule...
		{"Scope", ScopePresent, scopeDenied, "orders:write"},
		{"ScopeStream", ServiceAccount, scopeDenied, "orders:write"},
		{"Scope", ScopeMissing, ok, ""},
		// ...and the proto's fresh role rule, requirement included.
		{"FreshAdmin", FreshAdmin, scopeDenied, "orders:write"},
		{"FreshAdminStream", ScopeMissing, ok, ""},
		// Config.Methods wins over Config.Services and the proto.
		{"Role", RightRole, roleDenied, "auditor"},
		{"Role", ScopeMissing, roleDenied, "auditor"},
		{"Role", WrongRole, ok, ""},
		{"RoleStream", NoToken, ok, ""},
		{"Empty", NoRole, ok, ""},
		{"Empty", NoToken, missing, ""},
	} {
		t.Run(tc.method+"/"+tc.caller, func(t *testing.T) {
			_, err := w.call(tc.caller, "/"+protoRules+"/"+tc.method)
			WantOutcome(t, err, tc.want, tc.required)
		})
	}
}

// Handlers read roles and scopes from ClaimsFromContext: Roles, Scopes(),
// HasRole and HasScope say what the token says, and nothing more (a scope
// is no role, a role no scope).
func testHandlersReadRolesAndScopes(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{rulesService}, nil, guard.Config{})
	c := w.iss.Claims(token.Access, "alice", Sid)
	c.Roles, c.Scope = []string{"user", "support"}, "orders:read orders:write"
	w.callers["roles and scopes"] = []string{"Bearer " + w.iss.Sign(t, c)}
	for _, tc := range []struct {
		caller string
		want   echoed
	}{
		{"roles and scopes", echoed{
			Subject: "alice", Roles: []string{"user", "support"}, Scopes: []string{"orders:read", "orders:write"},
			HasRole: []string{"support", "user"}, HasScope: []string{"orders:read", "orders:write"},
		}},
		{ServiceAccount, echoed{Subject: "client:billing", Scopes: []string{"orders:read"}, HasScope: []string{"orders:read"}}},
		{Lookalikes, echoed{Subject: "alice", Roles: []string{"administrator", "support:read"}, Scopes: []string{"orders:readonly", "orders"}}},
		{NoRole, echoed{Subject: "alice"}},
	} {
		for _, method := range []string{"Empty", "EmptyStream"} {
			t.Run(tc.caller+"/"+method, func(t *testing.T) {
				got, err := w.call(tc.caller, "/authz.v1.Rules/"+method)
				if err != nil {
					t.Fatal(err)
				}
				if got.Subject != tc.want.Subject || !slices.Equal(got.Roles, tc.want.Roles) || !slices.Equal(got.Scopes, tc.want.Scopes) ||
					!slices.Equal(got.HasRole, tc.want.HasRole) || !slices.Equal(got.HasScope, tc.want.HasScope) {
					t.Fatalf("handler saw %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

// Rules that contradict themselves, in a .proto and in Go: the adapter's
// check names each method (a *RuleError) with what is wrong, beside the
// undeclared methods (an *UndeclaredError).
func testCheckNamesContradictoryRules(t *testing.T, tr Transport) {
	services := []authzService{contradictoryService, publicDefaultService}
	w := newWorld(t, tr, append(services, inheritedPublicService), services, guard.Config{})
	err := w.server.Check()

	var first *guard.RuleError
	if !errors.As(err, &first) {
		t.Fatalf("check = %v, want a *RuleError", err)
	}
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) ||
		!slices.Equal(undeclared.Methods, []string{"/authz.v1.Contradictory/Undeclared", "/authz.v1.GoContradictory/Undeclared"}) {
		t.Fatalf("check = %v, want both Undeclared methods named in an *UndeclaredError", err)
	}

	// What each contradictory method's error must mention.
	want := map[string]string{}
	for _, source := range []string{fromProto, fromGo} {
		c, p := "/"+serviceName(source, contradictoryService)+"/", "/"+serviceName(source, publicDefaultService)+"/"
		want[c+"PublicWithRole"] = "REQUIREMENT_PUBLIC"
		want[c+"RefreshWithScope"] = "REQUIREMENT_REFRESH"
		want[c+"UppercaseRole"] = `any_role: name "Admin"`
		want[c+"SpaceInScope"] = `all_scopes: name "orders read"`
		want[c+"RepeatedRole"] = `name "admin" appears twice`
		want[c+"PublicWithSecondFactor"] = "second_factor or max_age on a REQUIREMENT_PUBLIC method"
		want[c+"RefreshWithMaxAge"] = "second_factor or max_age on a REQUIREMENT_REFRESH method"
		want[c+"PublicSenderConstrained"] = "sender_constrained on a REQUIREMENT_PUBLIC method"
		want[p+"Inherits"] = "REQUIREMENT_PUBLIC"
	}
	want["/authz.v1.InheritedPublic/RoleOnPublic"] = "REQUIREMENT_PUBLIC"
	got := map[string]string{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var re *guard.RuleError
		if errors.As(e, &re) {
			got[re.Method] = e.Error()
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("RuleErrors name %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for method, msg := range got {
		if !strings.Contains(msg, method) || !strings.Contains(msg, want[method]) {
			t.Errorf("error %q: want it to name %s and say %s", msg, method, want[method])
		}
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("the check's message leaves out %q", msg)
		}
	}
}

// A method whose rule contradicts itself is never served: every call, with
// or without a token that would satisfy any reading of the rule, fails
// closed with Internal and the handler never runs. Its neighbours work.
func testContradictoryRuleFailsClosed(t *testing.T, tr Transport) {
	services := []authzService{contradictoryService, publicDefaultService}
	w := newWorld(t, tr, append(services, inheritedPublicService), services, guard.Config{})
	// A fresh admin with the scopes some of these rules name, the roles
	// and a second factor: what a lenient reading of any of them would
	// let in.
	c := w.iss.Claims(token.Access, "alice", Sid)
	c.Roles, c.Scope, c.Fresh = []string{"admin"}, "orders:read", token.Fresh{Value: true}
	tokens.WithSecondFactor()(&c)
	w.callers["everything"] = []string{"Bearer " + w.iss.Sign(t, c)}
	r := w.iss.Claims(token.Refresh, "alice", Sid)
	r.Scope = "orders:read"
	w.callers["refresh with scope"] = []string{"Bearer " + w.iss.Sign(t, r)}

	for _, source := range []string{fromProto, fromGo} {
		cs, ps := serviceName(source, contradictoryService), serviceName(source, publicDefaultService)
		methods := []string{
			"/" + cs + "/PublicWithRole", "/" + cs + "/RefreshWithScope", "/" + cs + "/UppercaseRole",
			"/" + cs + "/SpaceInScope", "/" + cs + "/RepeatedRole", "/" + cs + "/PublicWithSecondFactor",
			"/" + cs + "/RefreshWithMaxAge", "/" + cs + "/PublicSenderConstrained", "/" + ps + "/Inherits",
		}
		if source == fromProto {
			methods = append(methods, "/authz.v1.InheritedPublic/RoleOnPublic")
		}
		for _, method := range methods {
			for _, caller := range []string{NoToken, "everything", "refresh with scope"} {
				t.Run(method+"/"+caller, func(t *testing.T) {
					before := w.ran.Load()
					_, err := w.call(caller, method)
					tokens.WantRefusal(t, err, codes.Internal, "")
					if w.ran.Load() != before {
						t.Fatal("the handler ran")
					}
				})
			}
		}
		for _, method := range []string{"/" + cs + "/Fine", "/" + ps + "/Own"} {
			if _, err := w.call("everything", method); err != nil {
				t.Errorf("%s: %v", method, err)
			}
		}
	}
}
