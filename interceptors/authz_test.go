package interceptors_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// The outcomes of authorization, next to those of authentication
// (interceptors_test.go): PermissionDenied with ErrorInfo metadata.
const (
	roleDenied  = wire.ReasonInsufficientRole
	scopeDenied = wire.ReasonInsufficientScope
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
	return &authv1.Rule{Requirement: r.Requirement, AnyRole: r.AnyRole, AllScopes: r.AllScopes}
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

// probes are the names the echoing handlers ask HasRole and HasScope about.
var probes = []string{"admin", "support", "user", "orders:read", "orders:write"}

// echoed is what the test services' handlers answer: what
// ClaimsFromContext gave them.
type echoed struct {
	Subject           string // "anonymous" without claims
	Roles, Scopes     []string
	HasRole, HasScope []string // the probes HasRole and HasScope say the token carries
}

// authzWorld serves the test services behind one Authenticator, over
// bufconn.
type authzWorld struct {
	iss       *tokens.Issuer
	srv       *grpc.Server
	conn      *grpc.ClientConn
	guard     *guard.Guard
	authn     *interceptors.Authenticator
	streaming map[string]bool   // full method -> server stream
	ran       atomic.Int64      // handler runs
	callers   map[string]string // caller -> token
}

// The callers of the authorization tests, by name: the token each sends.
// Users are alice; the service account is client:billing.
const (
	noToken        = "no token"
	expiredToken   = "expired token"
	refreshAdmin   = "refresh token with role admin"
	noRole         = "no role"
	wrongRole      = "wrong role"
	rightRole      = "right role"
	admin          = "admin"
	freshNoRole    = "fresh, no role"
	freshAdmin     = "fresh admin"
	scopeMissing   = "scope missing"
	scopePresent   = "scope present"
	serviceAccount = "service account"
	lookalikes     = "look-alike role and scopes"
	bothScopes     = "both scopes"
	adminAndScopes = "admin with both scopes"
)

// newAuthzWorld serves services from both sources (the .proto ones from a
// local registry passed in Config.Files, the Go ones declared in
// Config.Services and Config.Methods) behind an Authenticator whose Guard
// is built with cfg too.
func newAuthzWorld(t *testing.T, protoServices, goServices []authzService, cfg guard.Config) *authzWorld {
	t.Helper()
	w := &authzWorld{iss: tokens.New(t), streaming: map[string]bool{}}
	cfg.Clock = w.iss.Clock
	cfg.Files = filesOf(t, authv1.File_auth_v1_options_proto, protoFile(t, "authz/v1/authz.proto", protoServices...))
	goDeclarations(&cfg, goServices...)
	w.guard = guard.New(w.iss.Verifier, cfg)
	w.authn = interceptors.New(w.guard)
	w.srv = grpc.NewServer(
		grpc.ChainUnaryInterceptor(w.authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(w.authn.StreamServerInterceptor()),
	)
	for _, s := range protoServices {
		w.srv.RegisterService(w.serviceDesc(serviceName(fromProto, s), s.methods), struct{}{})
	}
	for _, s := range goServices {
		w.srv.RegisterService(w.serviceDesc(serviceName(fromGo, s), s.methods), struct{}{})
	}
	w.conn = tokens.Serve(t, w.srv)
	w.callers = authzCallers(t, w.iss)
	return w
}

// newStrictWorld is newAuthzWorld for services whose every method declares
// a consistent rule, as CheckServer must confirm.
func newStrictWorld(t *testing.T, protoServices, goServices []authzService, cfg guard.Config) *authzWorld {
	t.Helper()
	w := newAuthzWorld(t, protoServices, goServices, cfg)
	if err := w.authn.CheckServer(w.srv); err != nil {
		t.Fatalf("CheckServer: %v", err)
	}
	return w
}

// authzCallers mints the token of each caller ("" for noToken).
func authzCallers(t *testing.T, iss *tokens.Issuer) map[string]string {
	t.Helper()
	user := func(typ token.Type, roles []string, scope string, fresh bool) string {
		c := iss.Claims(typ, "alice", sid)
		c.Roles, c.Scope, c.Fresh = roles, scope, token.Fresh{Value: fresh}
		return iss.Sign(t, c)
	}
	// A service account's token, as IssueClientToken mints it: no roles,
	// no auth_time, not fresh.
	client := iss.Claims(token.Access, "client:billing", "client-session")
	client.AuthTime = nil
	client.Scope = "orders:read"
	return map[string]string{
		noToken:        "",
		expiredToken:   iss.Expired(t, "alice", sid), // no role nor scope: the expiry must be heard first
		refreshAdmin:   user(token.Refresh, []string{"admin"}, "orders:read", false),
		noRole:         user(token.Access, nil, "", false),
		wrongRole:      user(token.Access, []string{"user", "auditor"}, "", false),
		rightRole:      user(token.Access, []string{"user", "support"}, "", false),
		admin:          user(token.Access, []string{"admin"}, "", false),
		freshNoRole:    user(token.Access, nil, "", true),
		freshAdmin:     user(token.Access, []string{"admin"}, "", true),
		scopeMissing:   user(token.Access, []string{"admin"}, "orders:write profile", false),
		scopePresent:   user(token.Access, nil, "profile orders:read", false),
		serviceAccount: iss.Sign(t, client),
		lookalikes:     user(token.Access, []string{"administrator", "support:read"}, "orders:readonly orders", false),
		bothScopes:     user(token.Access, nil, "orders:write orders:read", false),
		adminAndScopes: user(token.Access, []string{"support", "admin"}, "profile orders:write orders:read", false),
	}
}

// subjectOf is whom the caller's token names.
func subjectOf(caller string) string {
	if caller == serviceAccount {
		return "client:billing"
	}
	return "alice"
}

func (w *authzWorld) serviceDesc(service string, methods []authzMethod) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{ServiceName: service, HandlerType: (*any)(nil)}
	for _, m := range methods {
		full := "/" + service + "/" + m.name
		w.streaming[full] = m.stream
		if m.stream {
			desc.Streams = append(desc.Streams, grpc.StreamDesc{
				StreamName:    m.name,
				ServerStreams: true,
				Handler: func(_ any, stream grpc.ServerStream) error {
					if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
						return err
					}
					reply, err := w.echo(stream.Context())
					if err != nil {
						return err
					}
					return stream.SendMsg(reply)
				},
			})
			continue
		}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: m.name,
			Handler: func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(ctx context.Context, _ any) (any, error) { return w.echo(ctx) }
				if icpt == nil {
					return handler(ctx, in)
				}
				return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: full}, handler)
			},
		})
	}
	return desc
}

// echo is every test handler: it answers what ClaimsFromContext says.
func (w *authzWorld) echo(ctx context.Context) (*structpb.Struct, error) {
	w.ran.Add(1)
	claims, ok := guard.ClaimsFromContext(ctx)
	if !ok {
		return structpb.NewStruct(map[string]any{"subject": "anonymous"})
	}
	var hasRole, hasScope []any
	for _, p := range probes {
		if claims.HasRole(p) {
			hasRole = append(hasRole, p)
		}
		if claims.HasScope(p) {
			hasScope = append(hasScope, p)
		}
	}
	return structpb.NewStruct(map[string]any{
		"subject":   claims.Subject,
		"roles":     anys(claims.Roles),
		"scopes":    anys(claims.Scopes()),
		"has_role":  hasRole,
		"has_scope": hasScope,
	})
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func strs(v *structpb.Value) []string {
	var out []string
	for _, e := range v.GetListValue().GetValues() {
		out = append(out, e.GetStringValue())
	}
	return out
}

// call calls fullMethod as caller, unary or stream as it is declared, and
// returns what the handler answered.
func (w *authzWorld) call(caller, fullMethod string) (echoed, error) {
	stream, known := w.streaming[fullMethod]
	if !known {
		panic("no test method " + fullMethod)
	}
	tok, known := w.callers[caller]
	if !known {
		panic("no caller " + caller)
	}
	ctx := bg
	if tok != "" {
		ctx = tokens.Bearer(bg, tok)
	}
	out := new(structpb.Struct)
	if stream {
		s, err := w.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, fullMethod)
		if err != nil {
			return echoed{}, err
		}
		if err := s.SendMsg(&emptypb.Empty{}); err != nil {
			return echoed{}, err
		}
		if err := s.CloseSend(); err != nil {
			return echoed{}, err
		}
		if err := s.RecvMsg(out); err != nil {
			return echoed{}, err
		}
	} else if err := w.conn.Invoke(ctx, fullMethod, &emptypb.Empty{}, out); err != nil {
		return echoed{}, err
	}
	f := out.GetFields()
	return echoed{
		Subject: f["subject"].GetStringValue(), Roles: strs(f["roles"]), Scopes: strs(f["scopes"]),
		HasRole: strs(f["has_role"]), HasScope: strs(f["has_scope"]),
	}, nil
}

// wantOutcome fails the test unless err is the outcome want: ok (nil), a
// refusal of authentication (Unauthenticated with that reason and no
// metadata), or of authorization (PermissionDenied with the reason and
// required, space-separated, under required_roles or required_scopes, and
// nothing else).
func wantOutcome(t *testing.T, err error, want, required string) {
	t.Helper()
	if want == ok {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	code, metadata := codes.Unauthenticated, map[string]string(nil)
	switch want {
	case roleDenied:
		code, metadata = codes.PermissionDenied, map[string]string{wire.MetadataRequiredRoles: required}
	case scopeDenied:
		code, metadata = codes.PermissionDenied, map[string]string{wire.MetadataRequiredScopes: required}
	}
	tokens.WantRefusal(t, err, code, want)
	var infos []*errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			infos = append(infos, info)
		}
	}
	if len(infos) != 1 || infos[0].GetDomain() != wire.Domain || !maps.Equal(infos[0].GetMetadata(), metadata) {
		t.Fatalf("ErrorInfo = %v, want one of domain %q with metadata %v", infos, wire.Domain, metadata)
	}
}

// The authorization matrix: every caller against a role rule (any of admin,
// support) and a scope rule (orders:read), unary and streaming, declared in
// a .proto option and in Go. Authentication comes first: no token and an
// expired token are refused as such, a refresh token as the wrong type,
// whatever the rule; a valid token lacking a role or scope is
// PermissionDenied, never Unauthenticated.
func TestAuthz_Matrix(t *testing.T) {
	w := newStrictWorld(t, []authzService{rulesService}, []authzService{rulesService}, guard.Config{})
	for _, row := range []struct {
		caller      string
		role, scope string
	}{
		{noToken, missing, missing},
		{expiredToken, expired, expired},
		{refreshAdmin, wrongType, wrongType},
		{noRole, roleDenied, scopeDenied},
		{wrongRole, roleDenied, scopeDenied},
		{lookalikes, roleDenied, scopeDenied},
		{rightRole, ok, scopeDenied},
		{scopeMissing, ok, scopeDenied},
		{scopePresent, roleDenied, ok},
		{serviceAccount, roleDenied, ok},
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
					wantOutcome(t, err, method.want, method.required)
					if method.want != ok {
						if w.ran.Load() != before {
							t.Fatal("the handler ran")
						}
						return
					}
					if got.Subject != subjectOf(row.caller) {
						t.Fatalf("handler saw subject %q, want %q", got.Subject, subjectOf(row.caller))
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
func TestAuthz_RuleSemantics(t *testing.T) {
	services := []authzService{rulesService, defaultedService}
	w := newStrictWorld(t, services, services, guard.Config{})
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
		{rulesService, "Role", refreshAdmin, wrongType, "", false},
		{rulesService, "Role", rightRole, ok, "", false},
		{rulesService, "Empty", noToken, missing, "", false},
		{rulesService, "Empty", refreshAdmin, wrongType, "", false},
		{rulesService, "Empty", noRole, ok, "", false},
		{rulesService, "EmptyStream", serviceAccount, ok, "", false},

		// all_scopes: every one of them, in any order; with any_role,
		// both the role and the scopes.
		{rulesService, "BothScopes", scopePresent, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", scopeMissing, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", serviceAccount, scopeDenied, "orders:read orders:write", false},
		{rulesService, "BothScopes", bothScopes, ok, "", false},
		{rulesService, "RoleAndScopes", bothScopes, roleDenied, "admin", false},
		{rulesService, "RoleAndScopes", admin, scopeDenied, "orders:read orders:write", false},
		{rulesService, "RoleAndScopes", scopeMissing, scopeDenied, "orders:read orders:write", false},
		{rulesService, "RoleAndScopes", adminAndScopes, ok, "", false},

		// FRESH_ACCESS and a role: both. A token that is not fresh hears
		// FRESH_TOKEN_REQUIRED before its roles are looked at.
		{rulesService, "FreshAdmin", noToken, missing, "", false},
		{rulesService, "FreshAdmin", expiredToken, expired, "", false},
		{rulesService, "FreshAdmin", refreshAdmin, wrongType, "", false},
		{rulesService, "FreshAdmin", noRole, notFresh, "", false},
		{rulesService, "FreshAdmin", admin, notFresh, "", false},
		{rulesService, "FreshAdmin", serviceAccount, notFresh, "", false},
		{rulesService, "FreshAdmin", freshNoRole, roleDenied, "admin", false},
		{rulesService, "FreshAdmin", freshAdmin, ok, "", false},
		{rulesService, "FreshAdminStream", admin, notFresh, "", false},
		{rulesService, "FreshAdminStream", freshNoRole, roleDenied, "admin", false},
		{rulesService, "FreshAdminStream", freshAdmin, ok, "", false},

		// OPTIONAL and a role: no token runs anonymously; a token sent
		// must be valid and carry the role.
		{rulesService, "OptionalRole", noToken, ok, "", true},
		{rulesService, "OptionalRole", expiredToken, expired, "", false},
		{rulesService, "OptionalRole", noRole, roleDenied, "admin", false},
		{rulesService, "OptionalRole", serviceAccount, roleDenied, "admin", false},
		{rulesService, "OptionalRole", admin, ok, "", false},

		// The service's default rule (admin) covers methods that declare
		// nothing, unary and stream.
		{defaultedService, "Inherits", noToken, missing, "", false},
		{defaultedService, "Inherits", refreshAdmin, wrongType, "", false},
		{defaultedService, "Inherits", scopePresent, roleDenied, "admin", false},
		{defaultedService, "Inherits", rightRole, roleDenied, "admin", false},
		{defaultedService, "Inherits", admin, ok, "", false},
		{defaultedService, "InheritsStream", serviceAccount, roleDenied, "admin", false},
		{defaultedService, "InheritsStream", admin, ok, "", false},
		// A method's own rule replaces the default: scope, no role.
		{defaultedService, "OwnRule", noRole, scopeDenied, "orders:read", false},
		{defaultedService, "OwnRule", scopeMissing, scopeDenied, "orders:read", false},
		{defaultedService, "OwnRule", scopePresent, ok, "", false},
		{defaultedService, "OwnRule", serviceAccount, ok, "", false},
		// And so does a bare requirement (Go: Rule{Requirement: guard.Public}).
		{defaultedService, "OwnRequirement", noToken, ok, "", true},
		{defaultedService, "OwnRequirement", noRole, ok, "", true},
	} {
		for _, source := range []string{fromProto, fromGo} {
			full := "/" + serviceName(source, tc.service) + "/" + tc.method
			t.Run(source+"/"+tc.service.name+"/"+tc.method+"/"+tc.caller, func(t *testing.T) {
				before := w.ran.Load()
				got, err := w.call(tc.caller, full)
				wantOutcome(t, err, tc.want, tc.required)
				switch {
				case tc.want != ok && w.ran.Load() != before:
					t.Fatal("the handler ran")
				case tc.want != ok:
				case tc.anonymous && got.Subject != "anonymous":
					t.Fatalf("handler saw %q, want no claims", got.Subject)
				case !tc.anonymous && got.Subject != subjectOf(tc.caller):
					t.Fatalf("handler saw %q, want %q", got.Subject, subjectOf(tc.caller))
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

func equalRules(a, b guard.Rule) bool {
	return a.Requirement == b.Requirement && slices.Equal(a.AnyRole, b.AnyRole) && slices.Equal(a.AllScopes, b.AllScopes)
}

// In a .proto, a rule without a requirement takes the method's
// (auth.v1.requirement): here FRESH_ACCESS, so with any_role admin a
// non-fresh admin is refused as not fresh and a fresh caller without the
// role as lacking it.
func TestAuthz_ProtoRuleTakesTheMethodsRequirement(t *testing.T) {
	w := newStrictWorld(t, []authzService{layeredService}, nil, guard.Config{})
	for _, method := range []string{"RoleOnFresh", "RoleOnFreshStream"} {
		full := "/authz.v1.Layered/" + method
		if got, want := w.guard.Rule(full), freshAdminRule; !equalRules(got, want) {
			t.Errorf("Rule(%s) = %+v, want %+v", full, got, want)
		}
		for _, tc := range []struct{ caller, want, required string }{
			{noToken, missing, ""},
			{admin, notFresh, ""},
			{noRole, notFresh, ""},
			{freshNoRole, roleDenied, "admin"},
			{freshAdmin, ok, ""},
		} {
			t.Run(method+"/"+tc.caller, func(t *testing.T) {
				_, err := w.call(tc.caller, full)
				wantOutcome(t, err, tc.want, tc.required)
			})
		}
	}
}

// A service account's token has no auth_time, so no fresh-for window makes
// it fresh: a FRESH_ACCESS rule refuses it, while a user who logged in
// within the window passes on to the role check.
func TestAuthz_ServiceAccountIsNeverFresh(t *testing.T) {
	w := newStrictWorld(t, []authzService{rulesService}, []authzService{rulesService},
		guard.Config{FreshMaxAge: 5 * time.Minute})
	for _, source := range []string{fromProto, fromGo} {
		full := "/" + serviceName(source, rulesService) + "/FreshAdmin"
		for _, tc := range []struct{ caller, want, required string }{
			{serviceAccount, notFresh, ""},
			{noRole, roleDenied, "admin"},
			{admin, ok, ""},
		} {
			t.Run(source+"/"+tc.caller, func(t *testing.T) {
				_, err := w.call(tc.caller, full)
				wantOutcome(t, err, tc.want, tc.required)
			})
		}
	}
}

// In Go, Config.Services gives a Rule to the whole service, overriding
// its proto options, and Config.Methods wins over both; rules of a bare
// requirement work too.
func TestAuthz_GoServiceRuleAndMethodOverride(t *testing.T) {
	protoRules := serviceName(fromProto, rulesService)
	w := newStrictWorld(t, []authzService{rulesService}, nil, guard.Config{
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
		{"Scope", scopePresent, scopeDenied, "orders:write"},
		{"ScopeStream", serviceAccount, scopeDenied, "orders:write"},
		{"Scope", scopeMissing, ok, ""},
		// ...and the proto's fresh role rule, requirement included.
		{"FreshAdmin", freshAdmin, scopeDenied, "orders:write"},
		{"FreshAdminStream", scopeMissing, ok, ""},
		// Config.Methods wins over Config.Services and the proto.
		{"Role", rightRole, roleDenied, "auditor"},
		{"Role", scopeMissing, roleDenied, "auditor"},
		{"Role", wrongRole, ok, ""},
		{"RoleStream", noToken, ok, ""},
		{"Empty", noRole, ok, ""},
		{"Empty", noToken, missing, ""},
	} {
		t.Run(tc.method+"/"+tc.caller, func(t *testing.T) {
			_, err := w.call(tc.caller, "/"+protoRules+"/"+tc.method)
			wantOutcome(t, err, tc.want, tc.required)
		})
	}
}

// The shipped greeter's rules in greeter.proto: Admin needs the role admin,
// ReadOrders the scope orders:read (a service account's, or a user's), and
// their handlers see the roles and scopes of the token.
func TestAuthz_GreeterAdminAndReadOrders(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	callers := authzCallers(t, iss)
	ctx := func(caller string) context.Context {
		if caller == noToken {
			return bg
		}
		return tokens.Bearer(bg, callers[caller])
	}
	for _, tc := range []struct{ caller, admin, orders string }{
		{noToken, missing, missing},
		{expiredToken, expired, expired},
		{refreshAdmin, wrongType, wrongType},
		{noRole, roleDenied, scopeDenied},
		{rightRole, roleDenied, scopeDenied},
		{admin, ok, scopeDenied},
		{scopeMissing, ok, scopeDenied},
		{scopePresent, roleDenied, ok},
		{serviceAccount, roleDenied, ok},
	} {
		t.Run("Admin/"+tc.caller, func(t *testing.T) {
			resp, err := client.Admin(ctx(tc.caller), &examplev1.AdminRequest{})
			wantOutcome(t, err, tc.admin, "admin")
			if err == nil && (resp.Message != "hello, administrator alice" || !slices.Contains(resp.Roles, "admin")) {
				t.Fatalf("Admin = %v", resp)
			}
		})
		t.Run("ReadOrders/"+tc.caller, func(t *testing.T) {
			resp, err := client.ReadOrders(ctx(tc.caller), &examplev1.ReadOrdersRequest{})
			wantOutcome(t, err, tc.orders, "orders:read")
			if err == nil && (resp.Subject != subjectOf(tc.caller) || !slices.Contains(resp.Scopes, "orders:read")) {
				t.Fatalf("ReadOrders = %v", resp)
			}
		})
	}
	resp, err := client.ReadOrders(ctx(serviceAccount), &examplev1.ReadOrdersRequest{})
	if err != nil || resp.Subject != "client:billing" || !slices.Equal(resp.Scopes, []string{"orders:read"}) {
		t.Fatalf("ReadOrders as the service account = %v, %v", resp, err)
	}
}

// Handlers read roles and scopes from ClaimsFromContext: Roles, Scopes(),
// HasRole and HasScope say what the token says, and nothing more (a scope
// is no role, a role no scope).
func TestAuthz_HandlersReadRolesAndScopes(t *testing.T) {
	w := newStrictWorld(t, []authzService{rulesService}, nil, guard.Config{})
	c := w.iss.Claims(token.Access, "alice", sid)
	c.Roles, c.Scope = []string{"user", "support"}, "orders:read orders:write"
	w.callers["roles and scopes"] = w.iss.Sign(t, c)
	for _, tc := range []struct {
		caller string
		want   echoed
	}{
		{"roles and scopes", echoed{
			Subject: "alice", Roles: []string{"user", "support"}, Scopes: []string{"orders:read", "orders:write"},
			HasRole: []string{"support", "user"}, HasScope: []string{"orders:read", "orders:write"},
		}},
		{serviceAccount, echoed{Subject: "client:billing", Scopes: []string{"orders:read"}, HasScope: []string{"orders:read"}}},
		{lookalikes, echoed{Subject: "alice", Roles: []string{"administrator", "support:read"}, Scopes: []string{"orders:readonly", "orders"}}},
		{noRole, echoed{Subject: "alice"}},
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

// Rules that contradict themselves, in a .proto and in Go: CheckServer
// names each method (a *RuleError) with what is wrong, beside the
// undeclared methods (an *UndeclaredError); calls to them fail closed.
var (
	contradictoryService = authzService{name: "Contradictory", methods: []authzMethod{
		{name: "PublicWithRole", rule: &guard.Rule{Requirement: guard.Public, AnyRole: []string{"admin"}}},
		{name: "RefreshWithScope", stream: true, rule: &guard.Rule{Requirement: guard.Refresh, AllScopes: []string{"orders:read"}}},
		{name: "UppercaseRole", rule: &guard.Rule{AnyRole: []string{"Admin"}}},
		{name: "SpaceInScope", stream: true, rule: &guard.Rule{AllScopes: []string{"orders read"}}},
		{name: "RepeatedRole", rule: &guard.Rule{Requirement: guard.FreshAccess, AnyRole: []string{"admin", "admin"}}},
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

func TestCheckServer_NamesContradictoryRules(t *testing.T) {
	services := []authzService{contradictoryService, publicDefaultService}
	w := newAuthzWorld(t, append(services, inheritedPublicService), services, guard.Config{})
	err := w.authn.CheckServer(w.srv)

	var first *guard.RuleError
	if !errors.As(err, &first) {
		t.Fatalf("CheckServer = %v, want a *RuleError", err)
	}
	var undeclared *guard.UndeclaredError
	if !errors.As(err, &undeclared) ||
		!slices.Equal(undeclared.Methods, []string{"/authz.v1.Contradictory/Undeclared", "/authz.v1.GoContradictory/Undeclared"}) {
		t.Fatalf("CheckServer = %v, want both Undeclared methods named in an *UndeclaredError", err)
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
			t.Errorf("CheckServer's message leaves out %q", msg)
		}
	}
}

// A method whose rule contradicts itself is never served: every call, with
// or without a token that would satisfy any reading of the rule, fails
// closed with Internal and the handler never runs. Its neighbours work.
func TestAuthz_ContradictoryRuleFailsClosed(t *testing.T) {
	services := []authzService{contradictoryService, publicDefaultService}
	w := newAuthzWorld(t, append(services, inheritedPublicService), services, guard.Config{})
	// A fresh admin with the scopes some of these rules name, and the
	// roles: what a lenient reading of any of them would let in.
	c := w.iss.Claims(token.Access, "alice", sid)
	c.Roles, c.Scope, c.Fresh = []string{"admin"}, "orders:read", token.Fresh{Value: true}
	w.callers["everything"] = w.iss.Sign(t, c)
	r := w.iss.Claims(token.Refresh, "alice", sid)
	r.Scope = "orders:read"
	w.callers["refresh with scope"] = w.iss.Sign(t, r)

	for _, source := range []string{fromProto, fromGo} {
		cs, ps := serviceName(source, contradictoryService), serviceName(source, publicDefaultService)
		methods := []string{
			"/" + cs + "/PublicWithRole", "/" + cs + "/RefreshWithScope", "/" + cs + "/UppercaseRole",
			"/" + cs + "/SpaceInScope", "/" + cs + "/RepeatedRole", "/" + ps + "/Inherits",
		}
		if source == fromProto {
			methods = append(methods, "/authz.v1.InheritedPublic/RoleOnPublic")
		}
		for _, method := range methods {
			for _, caller := range []string{noToken, "everything", "refresh with scope"} {
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
