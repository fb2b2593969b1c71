package interceptors

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
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

// policy resolves a method's requirement, in this order: the Go override for
// the method, the Go override for its service, the (auth.v1.requirement)
// option in the registered descriptors, the default. Each method is resolved
// once and cached.
type policy struct {
	methods  map[string]Requirement // "/pkg.Service/Method"
	services map[string]Requirement // "pkg.Service"
	files    *protoregistry.Files
	fallback Requirement
	resolved sync.Map // full method -> resolution
}

type resolution struct {
	req      Requirement
	declared bool
}

func (p *policy) requirement(fullMethod string) resolution {
	if r, ok := p.resolved.Load(fullMethod); ok {
		return r.(resolution)
	}
	r := p.resolve(fullMethod)
	if r.declared {
		// Only declared methods are cached: with an UnknownServiceHandler the
		// method name is the caller's to choose, and must not grow the cache.
		p.resolved.Store(fullMethod, r)
	}
	return r
}

func (p *policy) resolve(fullMethod string) resolution {
	if req, ok := p.methods[fullMethod]; ok {
		return resolution{req, true}
	}
	service, method, ok := splitMethod(fullMethod)
	if !ok {
		return resolution{p.fallback, false}
	}
	if req, ok := p.services[service]; ok {
		return resolution{req, true}
	}
	if req, ok := p.fromDescriptor(protoreflect.FullName(service + "." + method)); ok {
		return resolution{req, true}
	}
	return resolution{p.fallback, false}
}

func (p *policy) fromDescriptor(name protoreflect.FullName) (Requirement, bool) {
	if !name.IsValid() {
		return 0, false
	}
	d, err := p.files.FindDescriptorByName(name)
	if err != nil {
		return 0, false
	}
	md, ok := d.(protoreflect.MethodDescriptor)
	if !ok || md.Options() == nil || !proto.HasExtension(md.Options(), authv1.E_Requirement) {
		return 0, false
	}
	req := proto.GetExtension(md.Options(), authv1.E_Requirement).(Requirement)
	if req == unspecified || authv1.Requirement_name[int32(req)] == "" {
		return 0, false
	}
	return req, true
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

func (e *UndeclaredError) Error() string {
	return fmt.Sprintf("%d method(s) declare no auth requirement (add option (auth.v1.requirement) or interceptors.WithMethod): %s",
		len(e.Methods), strings.Join(e.Methods, ", "))
}

// CheckServer returns an *UndeclaredError naming every method registered on
// srv whose requirement would fall to the default, so that no method is
// protected, or left open, by accident. Call it after registering services
// and before Serve; authd and the example refuse to start when it fails.
func (a *Authenticator) CheckServer(srv ServiceInfoProvider) error {
	var undeclared []string
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + service + "/" + m.Name
			if !a.policy.requirement(full).declared {
				undeclared = append(undeclared, full)
			}
		}
	}
	if len(undeclared) == 0 {
		return nil
	}
	sort.Strings(undeclared)
	return &UndeclaredError{Methods: undeclared}
}
