package interceptors_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
)

// greeterServer registers the example greeter (and, with probes, health
// and reflection) on a server protected by authn.
func greeterServer(iss *tokens.Issuer, authn *interceptors.Authenticator, probes bool) *grpc.Server {
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()))
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: iss.Clock})
	if probes {
		healthpb.RegisterHealthServer(srv, health.NewServer())
		reflection.Register(srv)
	}
	return srv
}

// A Config.Methods or Config.Services name that matches nothing registered
// is a typo that leaves the method it meant as it was: CheckServer names it
// and the closest registered name.
func TestCheckServer_UnknownNamesSuggestTheClosestRegisteredOne(t *testing.T) {
	iss := tokens.New(t)
	method := func(name string, req guard.Requirement) guard.Config {
		return guard.Config{Methods: map[string]guard.Rule{name: {Requirement: req}}}
	}
	service := func(name string, req guard.Requirement) guard.Config {
		return guard.Config{Services: map[string]guard.Rule{name: {Requirement: req}}}
	}
	for _, tc := range []struct {
		name    string
		cfg     guard.Config
		want    guard.UnknownNameError
		message string
	}{
		{"method without its leading slash", method("example.v1.GreeterService/WhoAmI", guard.Public),
			guard.UnknownNameError{Field: "Methods", Name: "example.v1.GreeterService/WhoAmI", Closest: "/example.v1.GreeterService/WhoAmI"},
			`guard.Config.Methods["example.v1.GreeterService/WhoAmI"]: no such method is served; did you mean "/example.v1.GreeterService/WhoAmI"?`},
		{"misspelt method", method("/example.v1.GreeterService/WhoAmIi", guard.Public),
			guard.UnknownNameError{Field: "Methods", Name: "/example.v1.GreeterService/WhoAmIi", Closest: "/example.v1.GreeterService/WhoAmI"}, ""},
		{"misspelt method with a rule", guard.Config{Methods: map[string]guard.Rule{"/example.v1.GreeterService/Greeet": {AnyRole: []string{"admin"}}}},
			guard.UnknownNameError{Field: "Methods", Name: "/example.v1.GreeterService/Greeet", Closest: "/example.v1.GreeterService/Greet"}, ""},
		{"misspelt service", service("example.v1.GreetingService", guard.Public),
			guard.UnknownNameError{Field: "Services", Name: "example.v1.GreetingService", Closest: "example.v1.GreeterService"},
			`guard.Config.Services["example.v1.GreetingService"]: no such service is served; did you mean "example.v1.GreeterService"?`},
		{"service with a slash", service("/example.v1.GreeterService", guard.Public),
			guard.UnknownNameError{Field: "Services", Name: "/example.v1.GreeterService", Closest: "example.v1.GreeterService"}, ""},
		{"nothing like it", method("/billing.v1.Invoices/Pay", guard.Public),
			guard.UnknownNameError{Field: "Methods", Name: "/billing.v1.Invoices/Pay"},
			`guard.Config.Methods["/billing.v1.Invoices/Pay"]: no such method is served`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.PublicHealthAndReflection, cfg.Clock = true, iss.Clock
			authn := interceptors.New(guard.New(iss.Verifier, cfg))
			srv := greeterServer(iss, authn, true)
			err := authn.CheckServer(srv)
			var unknown *guard.UnknownNameError
			if !errors.As(err, &unknown) || *unknown != tc.want {
				t.Fatalf("CheckServer = %v; want %+v", err, tc.want)
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Errorf("CheckServer's message = %q; want %q", err, tc.message)
			}
			// Served anyway, the typo opened nothing: WhoAmI still wants
			// an access token.
			_, err = examplev1.NewGreeterServiceClient(tokens.Serve(t, srv)).WhoAmI(bg, &examplev1.WhoAmIRequest{})
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("WhoAmI without a token: %v; want Unauthenticated", err)
			}
		})
	}
}

// Undeclared health and reflection methods come with the option that makes
// them public; a default, even Config.Default Public, declares nothing.
func TestCheckServer_UndeclaredHealthAndReflectionNameTheOption(t *testing.T) {
	iss := tokens.New(t)
	for _, tc := range []struct {
		name       string
		cfg        guard.Config
		probes     bool
		wantHint   bool
		undeclared int
	}{
		{"probes undeclared", guard.Config{}, true, true, 5},
		{"probes under a public default", guard.Config{Default: guard.Public}, true, true, 5},
		{"probes public", guard.Config{PublicHealthAndReflection: true}, true, false, 0},
		{"no probes, a service undeclared", guard.Config{Methods: map[string]guard.Rule{"/example.v1.GreeterService/Hello": {Requirement: guard.Public}}}, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Clock = iss.Clock
			authn := interceptors.New(guard.New(iss.Verifier, cfg))
			err := authn.CheckServer(greeterServer(iss, authn, tc.probes))
			var undeclared *guard.UndeclaredError
			if errors.As(err, &undeclared) != (tc.undeclared > 0) || (undeclared != nil && len(undeclared.Methods) != tc.undeclared) {
				t.Fatalf("CheckServer = %v; want %d undeclared method(s)", err, tc.undeclared)
			}
			hint := err != nil && strings.Contains(err.Error(), "guard.Config.PublicHealthAndReflection makes the health and reflection methods public")
			if hint != tc.wantHint {
				t.Errorf("CheckServer = %v; want the PublicHealthAndReflection hint: %v", err, tc.wantHint)
			}
			if undeclared != nil && !strings.Contains(err.Error(), "Config.Default is no declaration") {
				t.Errorf("CheckServer = %v; want it to say Config.Default is no declaration", err)
			}
		})
	}
}
