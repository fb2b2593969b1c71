package authzmatrix

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
)

// The rules the authorization tests declare, both in a .proto file built by
// the test and in Go, so that both sources are held to the same outcomes.
var (
	roleRule         = guard.Rule{AnyRole: []string{"admin", "support"}}
	scopeRule        = guard.Rule{AllScopes: []string{"orders:read"}}
	adminRule        = guard.Rule{AnyRole: []string{"admin"}}
	freshAdminRule   = guard.Rule{Requirement: guard.FreshAccess, AnyRole: []string{"admin"}}
	optionalRoleRule = guard.Rule{Requirement: guard.Optional, AnyRole: []string{"admin"}}
	bothScopesRule   = guard.Rule{AllScopes: []string{"orders:read", "orders:write"}}
	roleAndScopes    = guard.Rule{AnyRole: []string{"admin"}, AllScopes: []string{"orders:read", "orders:write"}}
	emptyRule        = guard.Rule{}
	// senderConstrainedRule takes only tokens bound to a key or a
	// certificate: every caller of the suite sends a bearer token.
	senderConstrainedRule = guard.Rule{SenderConstrained: true}
)

// authzMethod is one method of a test service and what it declares.
type authzMethod struct {
	name   string
	stream bool // a server stream; unary otherwise
	rule   *guard.Rule
	// requirement, when set: the (auth.v1.requirement) option beside any
	// rule in the .proto; in Go, Config.Methods[m] = Rule{Requirement:
	// requirement} when there is no rule.
	requirement guard.Requirement
}

// authzService is a test service: its methods, and the rule of those that
// declare nothing ((auth.v1.default_rule) in the .proto, Config.Services in Go).
type authzService struct {
	name        string // in package authz.v1
	defaultRule *guard.Rule
	methods     []authzMethod
}

// The services every source declares: each is served twice, as
// authz.v1.NAME with its rules in the .proto and as authz.v1.GoNAME with
// the same rules declared in Go.
var (
	rulesService = authzService{name: "Rules", methods: []authzMethod{
		{name: "Role", rule: &roleRule},
		{name: "RoleStream", stream: true, rule: &roleRule},
		{name: "Scope", rule: &scopeRule},
		{name: "ScopeStream", stream: true, rule: &scopeRule},
		{name: "FreshAdmin", rule: &freshAdminRule},
		{name: "FreshAdminStream", stream: true, rule: &freshAdminRule},
		{name: "OptionalRole", rule: &optionalRoleRule},
		{name: "BothScopes", rule: &bothScopesRule},
		{name: "RoleAndScopes", stream: true, rule: &roleAndScopes},
		{name: "Empty", rule: &emptyRule},
		{name: "EmptyStream", stream: true, rule: &emptyRule},
		{name: "SenderConstrained", rule: &senderConstrainedRule},
		{name: "SenderConstrainedStream", stream: true, rule: &senderConstrainedRule},
	}}
	defaultedService = authzService{name: "Defaulted", defaultRule: &adminRule, methods: []authzMethod{
		{name: "Inherits"},
		{name: "InheritsStream", stream: true},
		{name: "OwnRule", rule: &scopeRule},
		{name: "OwnRequirement", requirement: guard.Public},
	}}
	// layeredService only exists in the .proto: a rule without a
	// requirement takes the method's (auth.v1.requirement).
	layeredService = authzService{name: "Layered", methods: []authzMethod{
		{name: "RoleOnFresh", rule: &adminRule, requirement: guard.FreshAccess},
		{name: "RoleOnFreshStream", stream: true, rule: &adminRule, requirement: guard.FreshAccess},
	}}
)

// The two sources of a declaration.
const (
	fromProto = "proto"
	fromGo    = "go"
)

// serviceName is the full name of s as source declares it.
func serviceName(source string, s authzService) string {
	if source == fromGo {
		return "authz.v1.Go" + s.name
	}
	return "authz.v1." + s.name
}

// goDeclarations adds to cfg the declarations of services as
// serviceName(fromGo, ...), in Config.Services and Config.Methods.
func goDeclarations(cfg *guard.Config, services ...authzService) {
	if cfg.Methods == nil {
		cfg.Methods = map[string]guard.Rule{}
	}
	if cfg.Services == nil {
		cfg.Services = map[string]guard.Rule{}
	}
	for _, s := range services {
		name := serviceName(fromGo, s)
		if s.defaultRule != nil {
			cfg.Services[name] = *s.defaultRule
		}
		for _, m := range s.methods {
			full := "/" + name + "/" + m.name
			switch {
			case m.rule != nil:
				cfg.Methods[full] = *m.rule
			case m.requirement != 0:
				cfg.Methods[full] = guard.Rule{Requirement: m.requirement}
			}
		}
	}
}

func ruleProto(r guard.Rule) *authv1.Rule {
	return &authv1.Rule{Requirement: r.Requirement, AnyRole: r.AnyRole, AllScopes: r.AllScopes,
		SecondFactor: r.SecondFactor, MaxAge: uint32(r.MaxAge / time.Second), SenderConstrained: r.SenderConstrained}
}

// protoFile builds the descriptor of a .proto file in package authz.v1
// importing auth/v1/options.proto, declaring services with its options:
// methods take a google.protobuf.Empty and answer a google.protobuf.Struct.
func protoFile(t *testing.T, path string, services ...authzService) protoreflect.FileDescriptor {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String(path),
		Package:    proto.String("authz.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"auth/v1/options.proto", "google/protobuf/empty.proto", "google/protobuf/struct.proto"},
	}
	for _, s := range services {
		sdp := &descriptorpb.ServiceDescriptorProto{Name: proto.String(s.name)}
		if s.defaultRule != nil {
			sdp.Options = &descriptorpb.ServiceOptions{}
			proto.SetExtension(sdp.Options, authv1.E_DefaultRule, ruleProto(*s.defaultRule))
		}
		for _, m := range s.methods {
			mdp := &descriptorpb.MethodDescriptorProto{
				Name:            proto.String(m.name),
				InputType:       proto.String(".google.protobuf.Empty"),
				OutputType:      proto.String(".google.protobuf.Struct"),
				ServerStreaming: proto.Bool(m.stream),
			}
			if m.rule != nil || m.requirement != 0 {
				mdp.Options = &descriptorpb.MethodOptions{}
			}
			if m.rule != nil {
				proto.SetExtension(mdp.Options, authv1.E_Rule, ruleProto(*m.rule))
			}
			if m.requirement != 0 {
				proto.SetExtension(mdp.Options, authv1.E_Requirement, m.requirement)
			}
			sdp.Method = append(sdp.Method, mdp)
		}
		fdp.Service = append(fdp.Service, sdp)
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// Rules that contradict themselves, in a .proto and in Go: the adapter's
// check names each method (a *RuleError) with what is wrong, beside the
// undeclared methods (an *UndeclaredError); calls to them fail closed.
var (
	contradictoryService = authzService{name: "Contradictory", methods: []authzMethod{
		{name: "PublicWithRole", rule: &guard.Rule{Requirement: guard.Public, AnyRole: []string{"admin"}}},
		{name: "RefreshWithScope", stream: true, rule: &guard.Rule{Requirement: guard.Refresh, AllScopes: []string{"orders:read"}}},
		{name: "UppercaseRole", rule: &guard.Rule{AnyRole: []string{"Admin"}}},
		{name: "SpaceInScope", stream: true, rule: &guard.Rule{AllScopes: []string{"orders read"}}},
		{name: "RepeatedRole", rule: &guard.Rule{Requirement: guard.FreshAccess, AnyRole: []string{"admin", "admin"}}},
		{name: "PublicWithSecondFactor", rule: &guard.Rule{Requirement: guard.Public, SecondFactor: true}},
		{name: "RefreshWithMaxAge", stream: true, rule: &guard.Rule{Requirement: guard.Refresh, MaxAge: 5 * time.Minute}},
		{name: "PublicSenderConstrained", rule: &guard.Rule{Requirement: guard.Public, SenderConstrained: true}},
		{name: "Undeclared"},
		{name: "Fine", rule: &adminRule},
	}}
	publicDefaultService = authzService{
		name:        "PublicDefault",
		defaultRule: &guard.Rule{Requirement: guard.Public, AnyRole: []string{"admin"}},
		methods: []authzMethod{
			{name: "Inherits", stream: true},
			{name: "Own", requirement: guard.Access},
		},
	}
	// inheritedPublic only exists in the .proto: a rule with roles on a
	// method whose (auth.v1.requirement) is PUBLIC.
	inheritedPublicService = authzService{name: "InheritedPublic", methods: []authzMethod{
		{name: "RoleOnPublic", rule: &adminRule, requirement: guard.Public},
	}}
)
