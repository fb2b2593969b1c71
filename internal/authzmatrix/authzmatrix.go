// Package authzmatrix is the suite every transport adapter of a
// guard.Guard passes (interceptors for grpc-go, connectauth for
// connect-go): run it from the adapter's tests with a Transport that serves
// test methods behind the adapter and calls them as a client of its kind.
//
// What it checks, for unary and streaming methods whose rules are declared
// in a .proto and in Go: every requirement against every way of presenting
// a token (none, malformed, several, of each type, expired, of another
// issuer or key); every rule (roles, scopes, freshness, second factors
// and max_age, sender_constrained, optional, service defaults, overrides)
// against callers with
// and without what it names, with the refusal's code, reason and ErrorInfo
// metadata; that handlers see
// the caller's claims and never run for a refused call; that the
// adapter's startup check names contradictory and undeclared methods; and
// that a contradictory rule fails closed.
package authzmatrix

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Method is a test method: it takes a google.protobuf.Empty and answers a
// google.protobuf.Struct, once (unary) or as a server stream.
type Method struct {
	// Name is the full name, "/authz.v1.Service/Method".
	Name string
	// Stream is true for a server stream.
	Stream bool
}

// Handler is what every test method runs: it reads the claims in ctx.
type Handler func(ctx context.Context) (*structpb.Struct, error)

// Transport serves test methods behind its adapter of a Guard.
type Transport interface {
	// Serve serves methods, each running h, behind the adapter of g, for
	// as long as t lasts.
	Serve(t *testing.T, g *guard.Guard, methods []Method, h Handler) Server
}

// Server is test methods served behind an adapter.
type Server interface {
	// Call calls m as a client of the transport would, with the
	// authorization header values given (none: no header): it sends one
	// Empty and reads one Struct. A refusal is returned as the gRPC status
	// error it stands for (status.FromError reads it), with the code,
	// message and details the client received.
	Call(ctx context.Context, m Method, authorization []string) (*structpb.Struct, error)
	// Check runs the adapter's startup check on the methods served
	// (interceptors.Authenticator.CheckServer, say).
	Check() error
}

// Run runs the whole suite over tr.
func Run(t *testing.T, tr Transport) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Transport)
	}{
		{"Requirements", testRequirements},
		{"Authz", testMatrix},
		{"StepUp", testStepUp},
		{"RuleSemantics", testRuleSemantics},
		{"ProtoRuleTakesTheMethodsRequirement", testProtoRuleTakesTheMethodsRequirement},
		{"ServiceAccountIsNeverFresh", testServiceAccountIsNeverFresh},
		{"GoServiceRuleAndMethodOverride", testGoServiceRuleAndMethodOverride},
		{"HandlersReadRolesAndScopes", testHandlersReadRolesAndScopes},
		{"CheckNamesContradictoryRules", testCheckNamesContradictoryRules},
		{"ContradictoryRuleFailsClosed", testContradictoryRuleFailsClosed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, tr) })
	}
}

// Sid is the session of the tokens the suite mints.
const Sid = "session-1"

// The outcomes of a call: ok, or a refusal's reason.
const (
	ok          = ""
	missing     = wire.ReasonTokenMissing
	invalid     = wire.ReasonTokenInvalid
	expired     = wire.ReasonTokenExpired
	wrongType   = wire.ReasonWrongTokenType
	notFresh    = wire.ReasonFreshTokenRequired
	roleDenied  = wire.ReasonInsufficientRole
	scopeDenied = wire.ReasonInsufficientScope
	stepUp      = wire.ReasonStepUpRequired
	bound       = wire.ReasonDPoPProofRequired
)

// The callers of the suite, by name: the token each sends. Users are
// alice; the service account is client:billing.
const (
	NoToken        = "no token"
	ExpiredToken   = "expired token"
	RefreshAdmin   = "refresh token with role admin"
	NoRole         = "no role"
	WrongRole      = "wrong role"
	RightRole      = "right role"
	Admin          = "admin"
	FreshNoRole    = "fresh, no role"
	FreshAdmin     = "fresh admin"
	ScopeMissing   = "scope missing"
	ScopePresent   = "scope present"
	ServiceAccount = "service account"
	Lookalikes     = "look-alike role and scopes"
	BothScopes     = "both scopes"
	AdminAndScopes = "admin with both scopes"
	// Callers of the step-up matrix: how and when alice last proved who
	// she is.
	PasswordOnly    = "fresh, password only"
	StaleFactor     = "fresh, second factor 10 minutes ago"
	FreshFactor     = "fresh, second factor now"
	RefreshedFactor = "not fresh, second factor now"
	AdminFactor     = "admin, second factor now"
)

// The callers of the requirements matrix beyond those: an access token
// sent otherwise than as one "Bearer <token>", and tokens that do not
// verify.
const (
	malformedHeader = "malformed header"
	twoValues       = "two authorization values"
	accessFresh     = "access fresh"
	accessNonFresh  = "access non-fresh"
	refreshToken    = "refresh"
	otherIssuer     = "other issuer"
	unknownKid      = "unknown kid"
	removedKey      = "removed key"
)

// Callers mints the token of each caller ("" for NoToken).
func Callers(t *testing.T, iss *tokens.Issuer) map[string]string {
	t.Helper()
	user := func(typ token.Type, roles []string, scope string, fresh bool, claims ...tokens.Claim) string {
		c := iss.Claims(typ, "alice", Sid)
		c.Roles, c.Scope, c.Fresh = roles, scope, token.Fresh{Value: fresh}
		for _, f := range claims {
			f(&c)
		}
		return iss.Sign(t, c)
	}
	password := func(c *token.Claims) { c.AMR, c.ACR = []string{"pwd"}, token.ACRPassword }
	stale := tokens.WithAuthTime(iss.Clock.Now().Add(-10 * time.Minute))
	// A service account's token, as IssueClientToken mints it: no roles,
	// no auth_time, not fresh.
	client := iss.Claims(token.Access, "client:billing", "client-session")
	client.AuthTime = nil
	client.Scope = "orders:read"
	return map[string]string{
		NoToken:        "",
		ExpiredToken:   iss.Expired(t, "alice", Sid), // no role nor scope: the expiry must be heard first
		RefreshAdmin:   user(token.Refresh, []string{"admin"}, "orders:read", false),
		NoRole:         user(token.Access, nil, "", false),
		WrongRole:      user(token.Access, []string{"user", "auditor"}, "", false),
		RightRole:      user(token.Access, []string{"user", "support"}, "", false),
		Admin:          user(token.Access, []string{"admin"}, "", false),
		FreshNoRole:    user(token.Access, nil, "", true),
		FreshAdmin:     user(token.Access, []string{"admin"}, "", true),
		ScopeMissing:   user(token.Access, []string{"admin"}, "orders:write profile", false),
		ScopePresent:   user(token.Access, nil, "profile orders:read", false),
		ServiceAccount: iss.Sign(t, client),
		Lookalikes:     user(token.Access, []string{"administrator", "support:read"}, "orders:readonly orders", false),
		BothScopes:     user(token.Access, nil, "orders:write orders:read", false),
		AdminAndScopes: user(token.Access, []string{"support", "admin"}, "profile orders:write orders:read", false),

		PasswordOnly:    user(token.Access, nil, "", true, password),
		StaleFactor:     user(token.Access, nil, "", true, tokens.WithSecondFactor(), stale),
		FreshFactor:     user(token.Access, nil, "", true, tokens.WithSecondFactor()),
		RefreshedFactor: user(token.Access, nil, "", false, tokens.WithSecondFactor()),
		AdminFactor:     user(token.Access, []string{"admin"}, "", false, tokens.WithSecondFactor()),
	}
}

// SubjectOf is whom the caller's token names.
func SubjectOf(caller string) string {
	if caller == ServiceAccount {
		return "client:billing"
	}
	return "alice"
}

// authorizations are the authorization header values of each caller:
// Callers' as "Bearer <token>", and the requirements matrix's.
func authorizations(t *testing.T, iss *tokens.Issuer) map[string][]string {
	t.Helper()
	values := map[string][]string{}
	for caller, tok := range Callers(t, iss) {
		if tok != "" {
			values[caller] = []string{"Bearer " + tok}
		}
	}
	// A key the verifier trusted, then dropped: tokens it signed must stop
	// verifying.
	current := iss.Keys.Keys()[0]
	removed, err := keys.NewKey(tokens.Start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	removedToken := mintWith(t, removed, token.DefaultIssuer, iss.Claims(token.Access, "alice", Sid))
	if err := iss.Keys.Replace(current, removed); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verifier.Verify(context.Background(), removedToken); err != nil {
		t.Fatalf("token of a key in the ring: %v", err)
	}
	if err := iss.Keys.Replace(current); err != nil {
		t.Fatal(err)
	}
	forger := tokens.New(t, tokens.WithClock(iss.Clock))
	other := iss.Claims(token.Access, "alice", Sid)
	other.Fresh = token.Fresh{Value: true}

	fresh := iss.FreshAccess(t, "alice", Sid)
	for caller, tok := range map[string]string{
		accessFresh:    fresh,
		accessNonFresh: iss.Access(t, "alice", Sid),
		refreshToken:   iss.Refresh(t, "alice", Sid),
		otherIssuer:    mintWith(t, current, "someone-else", other),
		unknownKid:     forger.FreshAccess(t, "alice", Sid),
		removedKey:     removedToken,
	} {
		values[caller] = []string{"Bearer " + tok}
	}
	values[malformedHeader] = []string{"Token " + fresh}
	values[twoValues] = []string{"Bearer " + fresh, "Bearer " + fresh}
	return values
}

// mintWith signs c with key alone, stamping issuer.
func mintWith(t *testing.T, key keys.Key, issuer string, c token.Claims) string {
	t.Helper()
	ring, err := keys.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, issuer, []string{token.DefaultIssuer})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// world serves test services from both sources behind one adapter.
type world struct {
	iss     *tokens.Issuer
	guard   *guard.Guard
	server  Server
	methods map[string]Method   // by full name
	callers map[string][]string // caller -> authorization values
	ran     atomic.Int64        // handler runs
}

// newWorld serves services from both sources (the .proto ones from a
// local registry passed in Config.Files, the Go ones declared in
// Config.Services and Config.Methods) over tr, behind the adapter of a
// Guard built with cfg too.
func newWorld(t *testing.T, tr Transport, protoServices, goServices []authzService, cfg guard.Config) *world {
	t.Helper()
	w := &world{iss: tokens.New(t), methods: map[string]Method{}}
	cfg.Clock = w.iss.Clock
	cfg.Files = FilesOf(t, authv1.File_auth_v1_options_proto, protoFile(t, "authz/v1/authz.proto", protoServices...))
	goDeclarations(&cfg, goServices...)
	w.guard = guard.New(w.iss.Verifier, cfg)
	var methods []Method
	for source, services := range map[string][]authzService{fromProto: protoServices, fromGo: goServices} {
		for _, s := range services {
			for _, m := range s.methods {
				method := Method{Name: "/" + serviceName(source, s) + "/" + m.name, Stream: m.stream}
				w.methods[method.Name] = method
				methods = append(methods, method)
			}
		}
	}
	w.server = tr.Serve(t, w.guard, methods, w.echo)
	w.callers = authorizations(t, w.iss)
	return w
}

// newStrictWorld is newWorld for services whose every method declares a
// consistent rule, as the adapter's check must confirm.
func newStrictWorld(t *testing.T, tr Transport, protoServices, goServices []authzService, cfg guard.Config) *world {
	t.Helper()
	w := newWorld(t, tr, protoServices, goServices, cfg)
	if err := w.server.Check(); err != nil {
		t.Fatalf("the adapter's check: %v", err)
	}
	return w
}

// FilesOf returns a registry holding only files (for guard.Config.Files).
func FilesOf(t *testing.T, files ...protoreflect.FileDescriptor) *protoregistry.Files {
	t.Helper()
	reg := new(protoregistry.Files)
	for _, f := range files {
		if err := reg.RegisterFile(f); err != nil {
			t.Fatal(err)
		}
	}
	return reg
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

// echo is every test handler: it answers what ClaimsFromContext says.
func (w *world) echo(ctx context.Context) (*structpb.Struct, error) {
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

// call calls fullMethod as caller and returns what the handler answered.
func (w *world) call(caller, fullMethod string) (echoed, error) {
	m, known := w.methods[fullMethod]
	if !known {
		panic("no test method " + fullMethod)
	}
	values, known := w.callers[caller]
	if !known && caller != NoToken {
		panic("no caller " + caller)
	}
	out, err := w.server.Call(context.Background(), m, values)
	if err != nil {
		return echoed{}, err
	}
	f := out.GetFields()
	return echoed{
		Subject: f["subject"].GetStringValue(), Roles: strs(f["roles"]), Scopes: strs(f["scopes"]),
		HasRole: strs(f["has_role"]), HasScope: strs(f["has_scope"]),
	}, nil
}

// WantOutcome fails the test unless err is the outcome want: "" for none,
// a refusal of authentication (Unauthenticated with that reason and no
// metadata), or of authorization (PermissionDenied with the reason
// INSUFFICIENT_ROLE or INSUFFICIENT_SCOPE and required, space-separated,
// under required_roles or required_scopes, and nothing else).
func WantOutcome(t *testing.T, err error, want, required string) {
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
	wantRefusal(t, err, code, want, metadata)
}

// wantRefusal fails the test unless err has code and reason and one
// ErrorInfo of authd's domain with exactly metadata.
func wantRefusal(t *testing.T, err error, code codes.Code, reason string, metadata map[string]string) {
	t.Helper()
	tokens.WantRefusal(t, err, code, reason)
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

// requirementsService declares one method of each requirement, unary and
// stream, by (auth.v1.requirement) in the .proto and Config.Methods in Go.
var requirementsService = func() authzService {
	s := authzService{name: "Requirements"}
	for _, req := range order {
		name := req.String()
		s.methods = append(s.methods,
			authzMethod{name: name, requirement: req},
			authzMethod{name: name + "Stream", stream: true, requirement: req})
	}
	return s
}()

// order is the order of the requirements matrix's columns.
var order = []guard.Requirement{guard.Public, guard.Access, guard.FreshAccess, guard.Refresh, guard.Optional}

// The requirements matrix: for each way of calling, the outcome per
// requirement, in order (Public, Access, FreshAccess, Refresh, Optional),
// unary and stream, declared in a .proto option and in Go.
func testRequirements(t *testing.T, tr Transport) {
	w := newStrictWorld(t, tr, []authzService{requirementsService}, []authzService{requirementsService}, guard.Config{})
	for _, row := range []struct {
		caller string
		want   [5]string
	}{
		{NoToken, [5]string{ok, missing, missing, missing, ok}},
		{malformedHeader, [5]string{ok, missing, missing, missing, missing}},
		{twoValues, [5]string{ok, missing, missing, missing, missing}},
		{accessFresh, [5]string{ok, ok, ok, wrongType, ok}},
		{accessNonFresh, [5]string{ok, ok, notFresh, wrongType, ok}},
		{refreshToken, [5]string{ok, wrongType, wrongType, ok, wrongType}},
		{ExpiredToken, [5]string{ok, expired, expired, expired, expired}},
		{otherIssuer, [5]string{ok, invalid, invalid, invalid, invalid}},
		{unknownKid, [5]string{ok, invalid, invalid, invalid, invalid}},
		{removedKey, [5]string{ok, invalid, invalid, invalid, invalid}},
	} {
		for i, req := range order {
			for _, source := range []string{fromProto, fromGo} {
				for _, suffix := range []string{"", "Stream"} {
					full := "/" + serviceName(source, requirementsService) + "/" + req.String() + suffix
					t.Run(fmt.Sprintf("%s/%s%s/%s", source, req, suffix, row.caller), func(t *testing.T) {
						before := w.ran.Load()
						got, err := w.call(row.caller, full)
						WantOutcome(t, err, row.want[i], "")
						anonymous := req == guard.Public || (req == guard.Optional && row.caller == NoToken)
						switch {
						case row.want[i] != ok && w.ran.Load() != before:
							t.Fatal("the handler ran")
						case row.want[i] != ok:
						case anonymous && got.Subject != "anonymous":
							t.Fatalf("handler saw %q, want no claims", got.Subject)
						case !anonymous && got.Subject != "alice":
							t.Fatalf("handler saw %q, want alice", got.Subject)
						}
					})
				}
			}
		}
	}
}

func equalRules(a, b guard.Rule) bool {
	return a.Requirement == b.Requirement && slices.Equal(a.AnyRole, b.AnyRole) && slices.Equal(a.AllScopes, b.AllScopes) &&
		a.SecondFactor == b.SecondFactor && a.MaxAge == b.MaxAge && a.SenderConstrained == b.SenderConstrained
}
