package guard

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/spell"
	"github.com/authd-dev/authd/token"
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
	// anyToken is what Authenticate asks: a valid token of either type.
	anyToken Requirement = -1
)

// Services whose methods Config.PublicHealthAndReflection makes public.
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
	// SenderConstrained: the token must be bound to a key (DPoP, its
	// proof checked) or a client certificate; a bearer token is refused
	// with DPOP_PROOF_REQUIRED (ErrSenderConstrained).
	SenderConstrained bool
	// SecondFactor: the token must show a second factor (its acr is
	// token.ACRSecondFactor); otherwise ErrStepUpRequired.
	SecondFactor bool
	// MaxAge, when positive, bounds the time since the token's auth_time
	// (the user's last proof); otherwise ErrStepUpRequired. With
	// SecondFactor: a recent second factor.
	MaxAge time.Duration
}

func (r Rule) clone() Rule {
	r.AnyRole, r.AllScopes = slices.Clone(r.AnyRole), slices.Clone(r.AllScopes)
	return r
}

// permits checks the token's roles and scopes against the rule, then
// how and when its subject last proved who they are: a caller without a
// role hears PermissionDenied, which no step-up would cure, before being
// asked to step up.
func (r Rule) permits(c *token.Claims, now time.Time) error {
	if len(r.AnyRole) > 0 && !slices.ContainsFunc(r.AnyRole, c.HasRole) {
		return InsufficientRole(r.AnyRole)
	}
	for _, s := range r.AllScopes {
		if !c.HasScope(s) {
			return InsufficientScope(r.AllScopes)
		}
	}
	if r.SecondFactor && !c.SecondFactor() {
		return StepUpRequired(r)
	}
	if r.MaxAge > 0 {
		auth := c.AuthenticatedAt()
		if auth.IsZero() || now.Sub(auth) > r.MaxAge {
			return StepUpRequired(r)
		}
	}
	return nil
}

// demandsProof reports whether the rule asks how or when the caller last
// proved who they are.
func (r Rule) demandsProof() bool { return r.SecondFactor || r.MaxAge != 0 }

// check reports what makes the rule contradictory, if anything: an unknown
// requirement, roles or scopes on a method that takes no access token, or
// malformed names.
func (r Rule) check() error {
	if authv1.Requirement_name[int32(r.Requirement)] == "" {
		return fmt.Errorf("unknown requirement %d", r.Requirement)
	}
	if r.MaxAge < 0 {
		return fmt.Errorf("negative max_age %s", r.MaxAge)
	}
	if r.demandsProof() && (r.Requirement == Public || r.Requirement == Refresh) {
		return fmt.Errorf("second_factor or max_age on a %s method, which takes no access token", r.Requirement)
	}
	if r.SenderConstrained && (r.Requirement == Public || r.Requirement == Refresh) {
		return fmt.Errorf("sender_constrained on a %s method, which takes no access token", r.Requirement)
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

// policy resolves a method's rule, in this order: the Go rule of the
// method, the Go rule of its service, the (auth.v1.rule) or
// (auth.v1.requirement) option of the method in the registered
// descriptors, the (auth.v1.default_rule) of its service, the default.
// Each declared method is resolved once and cached.
type policy struct {
	methods  map[string]Rule // "/pkg.Service/Method"
	services map[string]Rule // "pkg.Service"
	files    *protoregistry.Files
	fallback Requirement
	resolved sync.Map // full method -> resolution
}

func newPolicy(cfg Config) *policy {
	p := &policy{methods: map[string]Rule{}, services: map[string]Rule{}, files: cfg.Files, fallback: cfg.Default}
	for m, r := range cfg.Methods {
		p.methods[m] = r.clone() // the caller's slices stay the caller's
	}
	for s, r := range cfg.Services {
		p.services[s] = r.clone()
	}
	if cfg.PublicHealthAndReflection {
		for _, s := range healthAndReflection {
			p.services[s] = Rule{Requirement: Public}
		}
	}
	if p.files == nil {
		p.files = protoregistry.GlobalFiles
	}
	if p.fallback == unspecified {
		p.fallback = Access
	}
	return p
}

type resolution struct {
	rule     Rule
	declared bool
	// invalid says what makes a declared rule contradictory; calls to the
	// method fail closed and CheckMethods names it.
	invalid error
}

func (p *policy) resolution(fullMethod string) resolution {
	if r, ok := p.resolved.Load(fullMethod); ok {
		return r.(resolution)
	}
	r := p.resolve(fullMethod)
	if r.declared {
		// Only declared methods are cached: with an unknown-service handler
		// the method name is the caller's to choose, and must not grow the
		// cache.
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
	return Rule{Requirement: r.GetRequirement(), AnyRole: r.GetAnyRole(), AllScopes: r.GetAllScopes(),
		SecondFactor: r.GetSecondFactor(), MaxAge: time.Duration(r.GetMaxAge()) * time.Second,
		SenderConstrained: r.GetSenderConstrained()}
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

// UndeclaredError lists the methods that declare no requirement.
type UndeclaredError struct {
	Methods []string
}

func (e *UndeclaredError) Error() string {
	msg := fmt.Sprintf("%d method(s) declare no auth requirement (add option (auth.v1.requirement), or a rule in guard.Config.Methods; Config.Default is no declaration): %s",
		len(e.Methods), strings.Join(e.Methods, ", "))
	if slices.ContainsFunc(e.Methods, isHealthOrReflection) {
		msg += "; guard.Config.PublicHealthAndReflection makes the health and reflection methods public"
	}
	return msg
}

func isHealthOrReflection(fullMethod string) bool {
	service, _, _ := splitMethod(fullMethod)
	return slices.Contains(healthAndReflection, service)
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

// UnknownNameError names a method or service of Config.Methods or
// Config.Services that is not served: a typo, or a method without its
// leading slash, that would otherwise leave the method it meant undeclared.
type UnknownNameError struct {
	Field   string // "Methods" or "Services"
	Name    string // as declared
	Closest string // the served name nearest to Name, or ""
}

func (e *UnknownNameError) Error() string {
	kind := "method"
	if e.Field == "Services" {
		kind = "service"
	}
	msg := fmt.Sprintf("guard.Config.%s[%q]: no such %s is served", e.Field, e.Name, kind)
	if e.Closest != "" {
		msg += fmt.Sprintf("; did you mean %q?", e.Closest)
	}
	return msg
}

// CheckMethods returns an error naming every method of methods (full
// names, "/pkg.Service/Method": the methods a server serves) whose
// requirement would fall to the default (an *UndeclaredError), so that no
// method is protected, or left open, by accident; every method whose rule
// contradicts itself (a *RuleError each); and every name of Config.Methods
// or Config.Services that matches nothing served (an *UnknownNameError
// each, with the closest served name). Adapters call it with what their
// server serves (interceptors.Authenticator.CheckServer); servers refuse
// to start when it fails.
//
// Config.Default is not a declaration: methods that rely on it are still
// named, since a default (above all Public) also covers methods added
// later without anyone deciding their requirement. The services of
// Config.PublicHealthAndReflection need not be served.
func (g *Guard) CheckMethods(methods []string) error {
	var undeclared []string
	var errs []error
	var services []string
	for _, full := range methods {
		if service, _, ok := splitMethod(full); ok && !slices.Contains(services, service) {
			services = append(services, service)
		}
		r := g.policy.resolution(full)
		switch {
		case !r.declared:
			undeclared = append(undeclared, full)
		case r.invalid != nil:
			errs = append(errs, &RuleError{Method: full, Err: r.invalid})
		}
	}
	for name := range g.policy.methods {
		if !slices.Contains(methods, name) {
			closest, _ := spell.Closest(name, methods)
			errs = append(errs, &UnknownNameError{Field: "Methods", Name: name, Closest: closest})
		}
	}
	for name := range g.policy.services {
		if !slices.Contains(services, name) && !slices.Contains(healthAndReflection, name) {
			closest, _ := spell.Closest(name, services)
			errs = append(errs, &UnknownNameError{Field: "Services", Name: name, Closest: closest})
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		errs = append([]error{&UndeclaredError{Methods: undeclared}}, errs...)
	}
	return errors.Join(errs...)
}

// Rule returns the rule the Guard applies to fullMethod
// ("/pkg.Service/Method").
func (g *Guard) Rule(fullMethod string) Rule {
	return g.policy.resolution(fullMethod).rule.clone()
}
