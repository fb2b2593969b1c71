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

// A WithMethod or WithService name that matches nothing registered is a
// typo that leaves the method it meant as it was: CheckServer names it and
// the closest registered name.
func TestCheckServer_UnknownNamesSuggestTheClosestRegisteredOne(t *testing.T) {
	iss := tokens.New(t)
	for _, tc := range []struct {
		name    string
		opt     interceptors.Option
		want    interceptors.UnknownNameError
		message string
	}{
		{"method without its leading slash", interceptors.WithMethod("example.v1.GreeterService/WhoAmI", interceptors.Public),
			interceptors.UnknownNameError{Option: "WithMethod", Name: "example.v1.GreeterService/WhoAmI", Closest: "/example.v1.GreeterService/WhoAmI"},
			`interceptors.WithMethod("example.v1.GreeterService/WhoAmI"): no such method is registered; did you mean "/example.v1.GreeterService/WhoAmI"?`},
		{"misspelt method", interceptors.WithMethod("/example.v1.GreeterService/WhoAmIi", interceptors.Public),
			interceptors.UnknownNameError{Option: "WithMethod", Name: "/example.v1.GreeterService/WhoAmIi", Closest: "/example.v1.GreeterService/WhoAmI"}, ""},
		{"method of WithMethods", interceptors.WithMethods(map[string]interceptors.Requirement{"/example.v1.GreeterService/Greeet": interceptors.Access}),
			interceptors.UnknownNameError{Option: "WithMethod", Name: "/example.v1.GreeterService/Greeet", Closest: "/example.v1.GreeterService/Greet"}, ""},
		{"misspelt service", interceptors.WithService("example.v1.GreetingService", interceptors.Public),
			interceptors.UnknownNameError{Option: "WithService", Name: "example.v1.GreetingService", Closest: "example.v1.GreeterService"},
			`interceptors.WithService("example.v1.GreetingService"): no such service is registered; did you mean "example.v1.GreeterService"?`},
		{"service with a slash", interceptors.WithService("/example.v1.GreeterService", interceptors.Public),
			interceptors.UnknownNameError{Option: "WithService", Name: "/example.v1.GreeterService", Closest: "example.v1.GreeterService"}, ""},
		{"nothing like it", interceptors.WithMethod("/billing.v1.Invoices/Pay", interceptors.Public),
			interceptors.UnknownNameError{Option: "WithMethod", Name: "/billing.v1.Invoices/Pay"},
			`interceptors.WithMethod("/billing.v1.Invoices/Pay"): no such method is registered`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authn := interceptors.New(iss.Verifier, interceptors.WithPublicHealthAndReflection(), interceptors.WithClock(iss.Clock), tc.opt)
			srv := greeterServer(iss, authn, true)
			err := authn.CheckServer(srv)
			var unknown *interceptors.UnknownNameError
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
// them public; a default, even WithDefault(Public), declares nothing.
func TestCheckServer_UndeclaredHealthAndReflectionNameTheOption(t *testing.T) {
	iss := tokens.New(t)
	for _, tc := range []struct {
		name       string
		opts       []interceptors.Option
		probes     bool
		wantHint   bool
		undeclared int
	}{
		{"probes undeclared", nil, true, true, 5},
		{"probes under a public default", []interceptors.Option{interceptors.WithDefault(interceptors.Public)}, true, true, 5},
		{"probes public", []interceptors.Option{interceptors.WithPublicHealthAndReflection()}, true, false, 0},
		{"no probes, a service undeclared", []interceptors.Option{interceptors.WithMethod("/example.v1.GreeterService/Hello", interceptors.Public)}, false, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authn := interceptors.New(iss.Verifier, append(tc.opts, interceptors.WithClock(iss.Clock))...)
			err := authn.CheckServer(greeterServer(iss, authn, tc.probes))
			var undeclared *interceptors.UndeclaredError
			if errors.As(err, &undeclared) != (tc.undeclared > 0) || (undeclared != nil && len(undeclared.Methods) != tc.undeclared) {
				t.Fatalf("CheckServer = %v; want %d undeclared method(s)", err, tc.undeclared)
			}
			hint := err != nil && strings.Contains(err.Error(), "interceptors.WithPublicHealthAndReflection() makes the health and reflection methods public")
			if hint != tc.wantHint {
				t.Errorf("CheckServer = %v; want the WithPublicHealthAndReflection hint: %v", err, tc.wantHint)
			}
			if undeclared != nil && !strings.Contains(err.Error(), "WithDefault is no declaration") {
				t.Errorf("CheckServer = %v; want it to say WithDefault is no declaration", err)
			}
		})
	}
}
