package interceptors_test

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/authzmatrix"
)

func TestCheckServer_NamesUndeclaredMethods(t *testing.T) {
	iss := tokens.New(t)
	authn := interceptors.New(guard.New(iss.Verifier, guard.Config{}))
	srv := grpc.NewServer()
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: iss.Clock})
	desc, _ := streamServiceDesc()
	srv.RegisterService(desc, struct{}{})
	err := authn.CheckServer(srv)
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) {
		t.Fatalf("CheckServer = %v, want *UndeclaredError", err)
	}
	if len(undeclared.Methods) != 5 || undeclared.Methods[0] != "/test.Streams/Access" ||
		!strings.Contains(err.Error(), "/test.Streams/Refresh") || strings.Contains(err.Error(), "GreeterService") {
		t.Fatalf("undeclared = %v; want the five test.Streams methods and no greeter method", undeclared.Methods)
	}
	withService := interceptors.New(guard.New(iss.Verifier, guard.Config{Services: map[string]guard.Rule{"test.Streams": {Requirement: guard.Access}}}))
	if err := withService.CheckServer(srv); err != nil {
		t.Fatalf("with a service-wide declaration: %v", err)
	}
}

func TestPolicy_SourcesInOrder(t *testing.T) {
	iss := tokens.New(t)
	g := guard.New(iss.Verifier, guard.Config{
		Methods:  map[string]guard.Rule{"/example.v1.GreeterService/Hello": {Requirement: guard.FreshAccess}},
		Services: map[string]guard.Rule{"example.v1.GreeterService": {Requirement: guard.Refresh}},
	})
	for method, want := range map[string]guard.Requirement{
		"/example.v1.GreeterService/Hello":    guard.FreshAccess, // method override beats all
		"/example.v1.GreeterService/WhoAmI":   guard.Refresh,     // service override beats the proto option
		"/auth.v1.AuthService/Login":          guard.Public,      // proto option
		"/auth.v1.AuthService/ChangePassword": guard.FreshAccess,
		"/unknown.Service/Method":             guard.Access, // default: deny
		"not a method":                        guard.Access,
	} {
		if got := g.Rule(method).Requirement; got != want {
			t.Errorf("Rule(%q).Requirement = %v, want %v", method, got, want)
		}
	}
	if got := guard.New(iss.Verifier, guard.Config{}).Rule("/example.v1.GreeterService/Hello").Requirement; got != guard.Public {
		t.Errorf("proto option: %v, want PUBLIC", got)
	}
}

// serveUnknown serves a server whose every method is undeclared (an
// UnknownServiceHandler), behind authn's stream interceptor, and reports
// whether the handler ran.
func serveUnknown(t *testing.T, authn *interceptors.Authenticator) (*grpc.ClientConn, *atomic.Bool) {
	t.Helper()
	var reached atomic.Bool
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		reached.Store(true)
		if err := stream.RecvMsg(&examplev1.HelloRequest{}); err != nil {
			return err
		}
		return stream.SendMsg(&examplev1.HelloResponse{})
	}), grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()))
	return tokens.Serve(t, srv), &reached
}

func TestUnknownMethodIsDeniedNotOpen(t *testing.T) {
	iss := tokens.New(t)
	conn, reached := serveUnknown(t, interceptors.New(guard.New(iss.Verifier, guard.Config{})))
	err := conn.Invoke(bg, "/nope.Service/Anything", &examplev1.HelloRequest{}, &examplev1.HelloResponse{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, missing)
	if reached.Load() {
		t.Fatal("the handler of an undeclared method ran without a token")
	}
}

// Config.Default sets what an undeclared method demands. It can relax deny by
// default: with Public, an undeclared method is open; CheckServer still
// names it, since it declares nothing. Declared methods keep their own
// requirement.
func TestWithDefault_Public_OpensUndeclaredMethods(t *testing.T) {
	iss := tokens.New(t)
	g := guard.New(iss.Verifier, guard.Config{Default: guard.Public})
	authn := interceptors.New(g)

	for method, want := range map[string]guard.Requirement{
		"/nope.Service/Anything":              guard.Public,
		"not a method":                        guard.Public,
		"/example.v1.GreeterService/WhoAmI":   guard.Access, // proto option
		"/example.v1.GreeterService/Greet":    guard.Optional,
		"/auth.v1.AuthService/ChangePassword": guard.FreshAccess,
	} {
		if got := g.Rule(method).Requirement; got != want {
			t.Errorf("Rule(%q).Requirement = %v, want %v", method, got, want)
		}
	}

	conn, reached := serveUnknown(t, authn)
	if err := conn.Invoke(bg, "/nope.Service/Anything", &examplev1.HelloRequest{}, &examplev1.HelloResponse{}); err != nil {
		t.Fatalf("undeclared method with default PUBLIC, no token: %v", err)
	}
	if !reached.Load() {
		t.Fatal("the handler did not run")
	}

	srv := grpc.NewServer()
	desc, _ := streamServiceDesc()
	srv.RegisterService(desc, struct{}{})
	var undeclared *guard.UndeclaredError
	if err := authn.CheckServer(srv); !errors.As(err, &undeclared) || len(undeclared.Methods) != 5 {
		t.Fatalf("CheckServer = %v; want the five test.Streams methods named although the default opens them", err)
	}
}

// Whatever the default, it is enforced as the requirement it names; one
// that names no requirement fails closed.
func TestWithDefault_Enforced(t *testing.T) {
	for _, tc := range []struct {
		name string
		def  guard.Requirement
		tok  func(*tokens.Issuer, *testing.T) string // nil: no token
		code codes.Code
		want string // reason; ok with codes.OK
	}{
		{"fresh access, non-fresh token", guard.FreshAccess, mintAccess, codes.Unauthenticated, notFresh},
		{"fresh access, fresh token", guard.FreshAccess, mintFreshAccess, codes.OK, ok},
		{"refresh, access token", guard.Refresh, mintAccess, codes.Unauthenticated, wrongType},
		{"refresh, refresh token", guard.Refresh, mintRefresh, codes.OK, ok},
		{"optional, no token", guard.Optional, nil, codes.OK, ok},
		{"optional, expired token", guard.Optional, mintExpired, codes.Unauthenticated, expired},
		{"unspecified counts as access, no token", guard.Requirement(0), nil, codes.Unauthenticated, missing},
		{"unspecified counts as access, refresh token", guard.Requirement(0), mintRefresh, codes.Unauthenticated, wrongType},
		{"unknown value, no token", guard.Requirement(42), nil, codes.Unauthenticated, missing},
		{"unknown value, valid token", guard.Requirement(42), mintFreshAccess, codes.Internal, ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := tokens.New(t)
			conn, reached := serveUnknown(t, interceptors.New(guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, Default: tc.def})))
			ctx := bg
			if tc.tok != nil {
				ctx = tokens.Bearer(bg, tc.tok(iss, t))
			}
			err := conn.Invoke(ctx, "/nope.Service/Anything", &examplev1.HelloRequest{}, &examplev1.HelloResponse{})
			if tc.code == codes.OK {
				if err != nil || !reached.Load() {
					t.Fatalf("refused (%v) or handler not run (%v)", err, reached.Load())
				}
				return
			}
			tokens.WantRefusal(t, err, tc.code, tc.want)
			if reached.Load() {
				t.Fatal("the handler ran")
			}
		})
	}
}

// Minting for table cases.
func mintAccess(iss *tokens.Issuer, t *testing.T) string { return iss.Access(t, "alice", sid) }
func mintFreshAccess(iss *tokens.Issuer, t *testing.T) string {
	return iss.FreshAccess(t, "alice", sid)
}
func mintRefresh(iss *tokens.Issuer, t *testing.T) string { return iss.Refresh(t, "alice", sid) }
func mintExpired(iss *tokens.Issuer, t *testing.T) string { return iss.Expired(t, "alice", sid) }

// Config.Files replaces protoregistry.GlobalFiles: a method's proto option is
// seen only when its file is in the registry given, and the methods of
// other files fall to the default.
func TestWithFiles_OptionsOutsideAreNotSeen(t *testing.T) {
	iss := tokens.New(t)
	onlyGreeter := guard.New(iss.Verifier, guard.Config{Files: authzmatrix.FilesOf(t, examplev1.File_example_v1_greeter_proto)})
	onlyAuth := guard.New(iss.Verifier, guard.Config{Files: authzmatrix.FilesOf(t, authv1.File_auth_v1_auth_proto)})
	none := guard.New(iss.Verifier, guard.Config{Files: authzmatrix.FilesOf(t), Default: guard.Optional})
	for _, tc := range []struct {
		g      *guard.Guard
		name   string
		method string
		want   guard.Requirement
	}{
		{onlyGreeter, "only greeter.proto", "/example.v1.GreeterService/Hello", guard.Public},
		{onlyGreeter, "only greeter.proto", "/example.v1.GreeterService/DeleteAccount", guard.FreshAccess},
		{onlyGreeter, "only greeter.proto", "/auth.v1.AuthService/Login", guard.Access},
		{onlyAuth, "only auth.proto", "/auth.v1.AuthService/Login", guard.Public},
		{onlyAuth, "only auth.proto", "/auth.v1.AuthService/ChangePassword", guard.FreshAccess},
		{onlyAuth, "only auth.proto", "/example.v1.GreeterService/Hello", guard.Access},
		{onlyAuth, "only auth.proto", "/example.v1.GreeterService/Greet", guard.Access},
		{none, "empty, default OPTIONAL", "/example.v1.GreeterService/Hello", guard.Optional},
		{none, "empty, default OPTIONAL", "/auth.v1.AuthService/Login", guard.Optional},
	} {
		if got := tc.g.Rule(tc.method).Requirement; got != tc.want {
			t.Errorf("%s: Rule(%q).Requirement = %v, want %v", tc.name, tc.method, got, tc.want)
		}
	}

	// Over the wire: Hello is PUBLIC in greeter.proto, which onlyAuth does
	// not hold, so it demands an access token like any undeclared method.
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(interceptors.New(onlyAuth).UnaryServerInterceptor()))
	examplev1.RegisterGreeterServiceServer(srv, &greeter.Greeter{Clock: iss.Clock})
	client := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	_, err := client.Hello(bg, &examplev1.HelloRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, missing)
	if _, err := client.Hello(tokens.Bearer(bg, iss.Access(t, "alice", sid)), &examplev1.HelloRequest{}); err != nil {
		t.Fatalf("Hello with an access token: %v", err)
	}

	// And the greeter refuses to start: none of its methods declares a
	// requirement the Authenticator can see.
	_, err = greeter.NewServer(greeterGuard(iss.Verifier, iss.Clock, guard.Config{Files: authzmatrix.FilesOf(t, authv1.File_auth_v1_auth_proto)}), iss.Clock)
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) {
		t.Fatalf("greeter.NewServer = %v, want *UndeclaredError", err)
	}
	var want []string
	for _, m := range examplev1.GreeterService_ServiceDesc.Methods {
		want = append(want, "/example.v1.GreeterService/"+m.MethodName)
	}
	for _, s := range examplev1.GreeterService_ServiceDesc.Streams {
		want = append(want, "/example.v1.GreeterService/"+s.StreamName)
	}
	slices.Sort(want)
	if !slices.Equal(undeclared.Methods, want) {
		t.Fatalf("undeclared = %v, want every greeter method %v", undeclared.Methods, want)
	}
}
