package interceptors

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/spell"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Requirement is what a method demands of the caller's token; see
// auth.v1.Requirement in options.proto.
type Requirement = authv1.Requirement

// The requirements, under shorter names.
const (
	Public      = authv1.Requirement_REQUIREMENT_PUBLIC
	Access      = authv1.Requirement_REQUIREMENT_ACCESS
	FreshAccess = authv1.Requirement_REQUIREMENT_FRESH_ACCESS
	Refresh     = authv1.Requirement_REQUIREMENT_REFRESH
	Optional    = authv1.Requirement_REQUIREMENT_OPTIONAL

	unspecified = authv1.Requirement_REQUIREMENT_UNSPECIFIED
)

// Services whose methods WithPublicHealthAndReflection makes public.
var healthAndReflection = []string{
	"grpc.health.v1.Health",
	"grpc.reflection.v1.ServerReflection",
	"grpc.reflection.v1alpha.ServerReflection",
}

// Rule is who may call a method: the token it needs and the roles or
// scopes that token must carry; see auth.v1.Rule in options.proto. A Rule
// without roles or scopes is its bare Requirement.
type Rule struct {
	// Requirement is the token the method needs; unspecified means Access.
	Requirement Requirement
	// AnyRole: the token's roles claim must hold at least one of these.
	AnyRole []string
	// AllScopes: the token's scope claim must hold every one of these.
	AllScopes []string
}

// Declaration is what WithMethod and WithService take: a bare Requirement
// or a Rule.
type Declaration interface{ Requirement | Rule }

func toRule[D Declaration](d D) Rule {
	switch d := any(d).(type) {
	case Rule:
		return d.clone() // the caller's slices stay the caller's
	case Requirement:
		return Rule{Requirement: d}
	}
	panic("unreachable")
}

func (r Rule) clone() Rule {
	r.AnyRole, r.AllScopes = slices.Clone(r.AnyRole), slices.Clone(r.AllScopes)
	return r
}

// permits checks the token's roles and scopes against the rule.
func (r Rule) permits(c *token.Claims) error {
	if len(r.AnyRole) > 0 && !slices.ContainsFunc(r.AnyRole, c.HasRole) {
		return &wire.PermissionError{Err: wire.ErrInsufficientRole, Required: r.AnyRole}
	}
	for _, s := range r.AllScopes {
		if !c.HasScope(s) {
			return &wire.PermissionError{Err: wire.ErrInsufficientScope, Required: r.AllScopes}
		}
	}
	return nil
}

// check reports what makes the rule contradictory, if anything: an unknown
// requirement, roles or scopes on a method that takes no access token, or
// malformed names.
func (r Rule) check() error {
	if authv1.Requirement_name[int32(r.Requirement)] == "" {
		return fmt.Errorf("unknown requirement %d", r.Requirement)
	}
	if len(r.AnyRole) == 0 && len(r.AllScopes) == 0 {
		return nil
	}
	switch r.Requirement {
	case Public, Refresh:
		return fmt.Errorf("roles or scopes on a %s method, which takes no access token", r.Requirement)
	}
	if err := token.ValidateNames(r.AnyRole); err != nil {
		return fmt.Errorf("any_role: %w", err)
	}
	if err := token.ValidateNames(r.AllScopes); err != nil {
		return fmt.Errorf("all_scopes: %w", err)
	}
	return nil
}

// policy resolves a method's rule, in this order: the Go override for the
// method, the Go override for its service, the (auth.v1.rule) or
// (auth.v1.requirement) option of the method in the registered
// descriptors, the (auth.v1.default_rule) of its service, the default. Each
// method is resolved once and cached.
type policy struct {
	methods  map[string]Rule // "/pkg.Service/Method"
	services map[string]Rule // "pkg.Service"
	files    *protoregistry.Files
	fallback Requirement
	resolved sync.Map // full method -> resolution
}

type resolution struct {
	rule     Rule
	declared bool
	// invalid says what makes a declared rule contradictory; calls to the
	// method fail closed and CheckServer names it.
	invalid error
}

func (p *policy) resolution(fullMethod string) resolution {
	if r, ok := p.resolved.Load(fullMethod); ok {
		return r.(resolution)
	}
	r := p.resolve(fullMethod)
	if r.declared {
		// Only declared methods are cached: with an UnknownServiceHandler the
		// method name is the caller's to choose, and must not grow the cache.
		r.invalid = r.rule.check()
		p.resolved.Store(fullMethod, r)
	}
	return r
}

func (p *policy) resolve(fullMethod string) resolution {
	declared := func(r Rule) resolution {
		if r.Requirement == unspecified {
			r.Requirement = Access
		}
		return resolution{rule: r, declared: true}
	}
	if r, ok := p.methods[fullMethod]; ok {
		return declared(r)
	}
	service, method, ok := splitMethod(fullMethod)
	if !ok {
		return resolution{rule: Rule{Requirement: p.fallback}}
	}
	if r, ok := p.services[service]; ok {
		return declared(r)
	}
	if r, ok := p.fromMethodOptions(protoreflect.FullName(service + "." + method)); ok {
		return declared(r)
	}
	if r, ok := p.fromServiceOptions(protoreflect.FullName(service)); ok {
		return declared(r)
	}
	return resolution{rule: Rule{Requirement: p.fallback}}
}

func (p *policy) fromMethodOptions(name protoreflect.FullName) (Rule, bool) {
	md, ok := p.find(name).(protoreflect.MethodDescriptor)
	if !ok || md.Options() == nil {
		return Rule{}, false
	}
	opts := md.Options()
	req, hasReq := requirementOption(opts)
	if proto.HasExtension(opts, authv1.E_Rule) {
		r := ruleOf(proto.GetExtension(opts, authv1.E_Rule).(*authv1.Rule))
		if r.Requirement == unspecified {
			r.Requirement = req // Access when the method has none either
		}
		return r, true
	}
	return Rule{Requirement: req}, hasReq
}

func (p *policy) fromServiceOptions(name protoreflect.FullName) (Rule, bool) {
	sd, ok := p.find(name).(protoreflect.ServiceDescriptor)
	if !ok || sd.Options() == nil || !proto.HasExtension(sd.Options(), authv1.E_DefaultRule) {
		return Rule{}, false
	}
	return ruleOf(proto.GetExtension(sd.Options(), authv1.E_DefaultRule).(*authv1.Rule)), true
}

func (p *policy) find(name protoreflect.FullName) protoreflect.Descriptor {
	if !name.IsValid() {
		return nil
	}
	d, err := p.files.FindDescriptorByName(name)
	if err != nil {
		return nil
	}
	return d
}

// requirementOption reads (auth.v1.requirement); unset or unknown values
// are not a declaration.
func requirementOption(opts protoreflect.ProtoMessage) (Requirement, bool) {
	if !proto.HasExtension(opts, authv1.E_Requirement) {
		return unspecified, false
	}
	req := proto.GetExtension(opts, authv1.E_Requirement).(Requirement)
	if req == unspecified || authv1.Requirement_name[int32(req)] == "" {
		return unspecified, false
	}
	return req, true
}

func ruleOf(r *authv1.Rule) Rule {
	return Rule{Requirement: r.GetRequirement(), AnyRole: r.GetAnyRole(), AllScopes: r.GetAllScopes()}
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(fullMethod string) (service, method string, ok bool) {
	rest, ok := strings.CutPrefix(fullMethod, "/")
	if !ok {
		return "", "", false
	}
	service, method, ok = strings.Cut(rest, "/")
	return service, method, ok && service != "" && method != "" && !strings.Contains(method, "/")
}

// ServiceInfoProvider is what *grpc.Server offers to list its services.
type ServiceInfoProvider interface {
	GetServiceInfo() map[string]grpc.ServiceInfo
}

// UndeclaredError lists the methods that declare no requirement.
type UndeclaredError struct {
	Methods []string
}

// RuleError names a method whose declared rule contradicts itself (roles
// or scopes on a PUBLIC or REFRESH method, malformed names). Calls to such
// a method fail closed with Internal.
type RuleError struct {
	Method string
	Err    error
}

func (e *RuleError) Error() string { return fmt.Sprintf("method %s: auth rule: %v", e.Method, e.Err) }

func (e *RuleError) Unwrap() error { return e.Err }

func (e *UndeclaredError) Error() string {
	msg := fmt.Sprintf("%d method(s) declare no auth requirement (add option (auth.v1.requirement) or interceptors.WithMethod; WithDefault is no declaration): %s",
		len(e.Methods), strings.Join(e.Methods, ", "))
	if slices.ContainsFunc(e.Methods, isHealthOrReflection) {
		msg += "; interceptors.WithPublicHealthAndReflection() makes the health and reflection methods public"
	}
	return msg
}

func isHealthOrReflection(fullMethod string) bool {
	service, _, _ := splitMethod(fullMethod)
	return slices.Contains(healthAndReflection, service)
}

// UnknownNameError names a WithMethod or WithService declaration that
// matches no method or service registered on the server: a typo, or a
// method without its leading slash, that would otherwise leave the method
// it meant undeclared.
type UnknownNameError struct {
	Option  string // "WithMethod" or "WithService"
	Name    string // as declared
	Closest string // the registered name nearest to Name, or ""
}

func (e *UnknownNameError) Error() string {
	kind := "method"
	if e.Option == "WithService" {
		kind = "service"
	}
	msg := fmt.Sprintf("interceptors.%s(%q): no such %s is registered", e.Option, e.Name, kind)
	if e.Closest != "" {
		msg += fmt.Sprintf("; did you mean %q?", e.Closest)
	}
	return msg
}

// CheckServer returns an error naming every method registered on srv whose
// requirement would fall to the default (an *UndeclaredError), so that no
// method is protected, or left open, by accident; every method whose rule
// contradicts itself (a *RuleError each); and every WithMethod or
// WithService name that matches nothing registered on srv (an
// *UnknownNameError each, with the closest registered name). Call it after
// registering every service and before Serve; authd and the example refuse
// to start when it fails.
//
// An explicit WithDefault is not a declaration: methods that rely on it
// are still named, since a default (above all WithDefault(Public)) also
// covers methods added later without anyone deciding their requirement.
// The services of WithPublicHealthAndReflection need not be registered.
func (a *Authenticator) CheckServer(srv ServiceInfoProvider) error {
	var undeclared []string
	var errs []error
	var methods, services []string
	for service, info := range srv.GetServiceInfo() {
		services = append(services, service)
		for _, m := range info.Methods {
			full := "/" + service + "/" + m.Name
			methods = append(methods, full)
			r := a.policy.resolution(full)
			switch {
			case !r.declared:
				undeclared = append(undeclared, full)
			case r.invalid != nil:
				errs = append(errs, &RuleError{Method: full, Err: r.invalid})
			}
		}
	}
	for name := range a.policy.methods {
		if !slices.Contains(methods, name) {
			closest, _ := spell.Closest(name, methods)
			errs = append(errs, &UnknownNameError{Option: "WithMethod", Name: name, Closest: closest})
		}
	}
	for name := range a.policy.services {
		if !slices.Contains(services, name) && !slices.Contains(healthAndReflection, name) {
			closest, _ := spell.Closest(name, services)
			errs = append(errs, &UnknownNameError{Option: "WithService", Name: name, Closest: closest})
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		errs = append([]error{&UndeclaredError{Methods: undeclared}}, errs...)
	}
	return errors.Join(errs...)
}
