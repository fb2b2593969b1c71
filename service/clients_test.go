package service_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/wire"
)

// clientAccessClaims are the claims of a service account's token: no
// auth_time (no password was typed) and no roles.
var clientAccessClaims = []string{"aud", "exp", "fresh", "iat", "iss", "jti", "nbf", "scope", "sid", "sub", "type"}

// reporterWorld is authd with a service account "reporter" granted
// orders:read, orders:write and reports:read.
type reporterWorld struct {
	*adminWorld
	id, secret string
}

func newReporterWorld(t *testing.T, opts ...func(*authdenv.Options)) *reporterWorld {
	t.Helper()
	w := newAdminWorld(t, opts...)
	created := w.addClient(t, "reporter", "reports:read", "orders:write", "orders:read")
	return &reporterWorld{adminWorld: w, id: created.Client.ClientId, secret: created.ClientSecret}
}

func (w *reporterWorld) token(t *testing.T, scopes ...string) *authv1.IssueClientTokenResponse {
	t.Helper()
	resp, err := w.issue(w.id, w.secret, scopes...)
	if err != nil {
		t.Fatalf("IssueClientToken(%v): %v", scopes, err)
	}
	return resp
}

// A service account gets a short-lived access token for the scopes it
// asks: sub "client:NAME", the scope claim, never fresh, no refresh token,
// and it cannot be renewed past its own exp.
func TestIssueClientToken_TokenForGrantedScopes(t *testing.T) {
	w := newReporterWorld(t)
	w.Clock.Advance(time.Minute)
	now := w.Clock.Now()
	resp := w.token(t, "orders:read")
	want := &authv1.IssueClientTokenResponse{AccessToken: resp.AccessToken, ExpiresIn: 900, Scope: "orders:read", TokenType: "Bearer"}
	if !proto.Equal(resp, want) {
		t.Fatalf("response = %v, want %v", resp, want)
	}

	p := authzPayload(t, resp.AccessToken)
	wantClaimNames(t, "client token", p, clientAccessClaims)
	for name, v := range map[string]string{
		"sub": `"client:reporter"`, "type": `"access"`, "fresh": "false", "scope": `"orders:read"`,
		"iss": `"authd"`, "aud": `"authd"`, "iat": unixJSON(now), "nbf": unixJSON(now), "exp": unixJSON(now.Add(15 * time.Minute)),
	} {
		if p[name] != v {
			t.Fatalf("claim %s = %s, want %s", name, p[name], v)
		}
	}

	c := mustVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	if c.Subject != "client:reporter" || c.Type != "access" || c.Fresh || c.Sid == "" || c.AuthTime != 0 || len(c.Roles) != 0 ||
		!slices.Equal(c.Scopes, []string{"orders:read"}) || c.ExpiresAt != now.Add(15*time.Minute).Unix() {
		t.Fatalf("Verify claims = %v", c)
	}
	_, err := authzVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_FRESH_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
	_, err = authzVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_REFRESH)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonWrongTokenType)

	// Neither refreshed nor renewed: a new token needs the secret again.
	ctx := tokens.Bearer(context.Background(), resp.AccessToken)
	_, err = w.Client.Refresh(ctx, &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonWrongTokenType)
	for _, after := range []time.Duration{0, 5 * time.Minute} {
		w.Clock.Advance(after)
		_, err = w.Client.Renew(ctx, &authv1.RenewRequest{})
		tokens.WantRefusal(t, err, codes.FailedPrecondition, wire.ReasonSessionCapReached)
	}
	w.Clock.Advance(10 * time.Minute)
	_, err = authzVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)

	// Several scopes: the claim holds them in the order asked.
	two := w.token(t, "reports:read", "orders:read")
	if two.Scope != "reports:read orders:read" || authzPayload(t, two.AccessToken)["scope"] != `"reports:read orders:read"` {
		t.Fatalf("scope = %q, payload %v", two.Scope, authzPayload(t, two.AccessToken))
	}
	c = mustVerify(t, w.Env, two.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	if !slices.Equal(c.Scopes, []string{"reports:read", "orders:read"}) {
		t.Fatalf("Verify scopes = %v", c.Scopes)
	}

	// Each token has a session of its own, listed under the account while
	// it lives.
	w.root = w.Login(t, "root", rootPassword) // the first login's token has expired
	if sids := w.sessionIDs(t, "client:reporter"); len(sids) != 1 || sids[0] != c.Sid {
		t.Fatalf("live sessions of client:reporter = %v, want only %s", sids, c.Sid)
	}
}

// Asking for no scope gets every granted one; a client granted none gets a
// token without a scope claim.
func TestIssueClientToken_NoScopesMeansAllGranted(t *testing.T) {
	w := newReporterWorld(t)
	resp := w.token(t)
	if resp.Scope != "orders:read orders:write reports:read" {
		t.Fatalf("scope = %q", resp.Scope)
	}
	c := mustVerify(t, w.Env, resp.AccessToken, authv1.Requirement_REQUIREMENT_ACCESS)
	if !slices.Equal(c.Scopes, []string{"orders:read", "orders:write", "reports:read"}) {
		t.Fatalf("Verify scopes = %v", c.Scopes)
	}

	bare := w.addClient(t, "pinger")
	resp, err := w.issue(bare.Client.ClientId, bare.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Scope != "" {
		t.Fatalf("scope = %q", resp.Scope)
	}
	wantClaimNames(t, "scope-less client token", authzPayload(t, resp.AccessToken),
		slices.DeleteFunc(slices.Clone(clientAccessClaims), func(n string) bool { return n == "scope" }))
}

// A scope outside the grant is PermissionDenied INSUFFICIENT_SCOPE naming
// every missing scope, and no token is issued. It is checked after the
// secret: a caller without it learns nothing about the grant.
func TestIssueClientToken_ScopeNotGranted(t *testing.T) {
	w := newReporterWorld(t)
	_, err := w.issue(w.id, w.secret, "orders:read", "orders:delete", "authd:admin")
	wantPermissionDenied(t, err, wire.ReasonInsufficientScope, wire.MetadataRequiredScopes, "orders:delete authd:admin",
		"insufficient scope: [orders:delete authd:admin] required")
	if sids := w.sessionIDs(t, "client:reporter"); len(sids) != 0 {
		t.Fatalf("a refused request opened sessions %v", sids)
	}
	_, err = w.issue(w.id, "wrong secret", "orders:delete")
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
}

// An unknown client id, a wrong secret and a disabled client get the very
// same error, details and all, so that a caller cannot tell them apart.
func TestIssueClientToken_FailuresAreIndistinguishable(t *testing.T) {
	w := newReporterWorld(t)
	archiver := w.addClient(t, "archiver", "orders:read")
	if _, err := w.admin.DisableClient(w.asRoot(), &authv1.DisableClientRequest{Name: "archiver"}); err != nil {
		t.Fatal(err)
	}
	w.addUser(t, "alice", "alice's pw")
	cases := []struct {
		name       string
		id, secret string
	}{
		{"unknown client id", "authd-no-such-client", w.secret},
		{"wrong secret", w.id, w.secret + "x"},
		{"another client's secret", w.id, archiver.ClientSecret},
		{"disabled client", archiver.Client.ClientId, archiver.ClientSecret},
		{"a user's name and password", "alice", "alice's pw"},
		{"the account name", "client:reporter", w.secret},
	}
	var first *status.Status
	for _, tc := range cases {
		_, err := w.issue(tc.id, tc.secret)
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
		st := status.Convert(err)
		if st.Message() != accounts.ErrInvalidCredentials.Error() {
			t.Fatalf("%s: message = %q", tc.name, st.Message())
		}
		if first == nil {
			first = st
		} else if !proto.Equal(st.Proto(), first.Proto()) {
			t.Fatalf("%s: %v differs from %s: %v", tc.name, st.Proto(), cases[0].name, first.Proto())
		}
	}
}

// A service account is not a person: its name and secret do not log in.
func TestIssueClientToken_ServiceAccountCannotLogin(t *testing.T) {
	w := newReporterWorld(t)
	for _, name := range []string{"client:reporter", w.id} {
		_, err := w.Client.Login(context.Background(), &authv1.LoginRequest{Username: name, Password: w.secret})
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}
	w.token(t) // and the secret still works where it belongs
}

// retryInfo returns the RetryInfo delay of err, failing the test without one.
func retryInfo(t *testing.T, err error) time.Duration {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("no RetryInfo in %v", err)
	return 0
}

// Wrong secrets are throttled as wrong passwords are: past the free
// allowance, every attempt (even with the right secret) is refused
// unchecked with RetryInfo until the delay has passed.
func TestIssueClientToken_WrongSecretsAreThrottled(t *testing.T) {
	w := newReporterWorld(t)
	free := accounts.DefaultThrottlePolicy.AccountAddress.Free
	for i := range free {
		_, err := w.issue(w.id, "guess "+strconv.Itoa(i))
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}
	base := accounts.DefaultThrottlePolicy.AccountAddress.Base
	for _, secret := range []string{"one more guess", w.secret} {
		_, err := w.issue(w.id, secret)
		tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
		if d := retryInfo(t, err); d != base {
			t.Fatalf("retry delay = %s, want %s", d, base)
		}
		if msg := status.Convert(err).Message(); msg != "too many failed logins; retry in "+base.String() {
			t.Fatalf("message = %q", msg)
		}
	}
	// Other accounts are not held back by one client's failures.
	other := w.addClient(t, "archiver")
	if _, err := w.issue(other.Client.ClientId, other.ClientSecret); err != nil {
		t.Fatalf("another client: %v", err)
	}
	w.Clock.Advance(base)
	w.token(t)
	// The success cleared the client's counters: the allowance is whole again.
	for range free {
		_, err := w.issue(w.id, "guess")
		tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	}
}

// Malformed requests are InvalidArgument before any secret is checked, and
// so never count towards throttling.
func TestIssueClientToken_BadInput(t *testing.T) {
	w := newReporterWorld(t)
	tooManyScopes := make([]string, 33)
	for i := range tooManyScopes {
		tooManyScopes[i] = "s" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name string
		req  *authv1.IssueClientTokenRequest
		msg  string
	}{
		{"empty client_id", &authv1.IssueClientTokenRequest{ClientSecret: w.secret}, "client_id must be 1 to 256 bytes of UTF-8"},
		{"client_id too long", &authv1.IssueClientTokenRequest{ClientId: strings.Repeat("a", 257), ClientSecret: w.secret}, "client_id must be 1 to 256 bytes of UTF-8"},
		{"client_id of invalid UTF-8", &authv1.IssueClientTokenRequest{ClientId: w.id + "\xff", ClientSecret: w.secret}, "client_id must be 1 to 256 bytes of UTF-8"},
		{"empty client_secret", &authv1.IssueClientTokenRequest{ClientId: w.id}, "client_secret must be 1 to 1024 bytes of UTF-8"},
		{"client_secret too long", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: strings.Repeat("s", password.MaxLength+1)},
			"client_secret must be 1 to 1024 bytes of UTF-8"},
		{"client_secret of invalid UTF-8", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: "\xc3\x28"}, "client_secret must be 1 to 1024 bytes of UTF-8"},
		{"scope with a capital", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: w.secret, Scopes: []string{"Orders:read"}},
			`scopes: name "Orders:read": only a-z, 0-9 and :._- are allowed`},
		{"scope with a space", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: w.secret, Scopes: []string{"orders:read orders:write"}},
			`scopes: name "orders:read orders:write": only a-z, 0-9 and :._- are allowed`},
		{"empty scope", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: w.secret, Scopes: []string{""}},
			`scopes: name "": want 1 to 64 bytes`},
		{"repeated scope", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: w.secret, Scopes: []string{"orders:read", "orders:read"}},
			`scopes: name "orders:read" appears twice`},
		{"too many scopes", &authv1.IssueClientTokenRequest{ClientId: w.id, ClientSecret: w.secret, Scopes: tooManyScopes},
			"scopes: 33 names, at most 32 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.Client.IssueClientToken(context.Background(), tc.req)
			tokens.WantRefusal(t, err, codes.InvalidArgument, "")
			if msg := status.Convert(err).Message(); msg != tc.msg {
				t.Fatalf("message = %q, want %q", msg, tc.msg)
			}
		})
	}
	// Eleven refusals, none throttled: well past the free allowance of five.
	w.token(t)
}

// clientGreeter is the example greeter verifying with authd's keys and
// learning of revocations by polling authd, as a service holding only the
// JWKS does.
func clientGreeter(t *testing.T, e *authdenv.Env, revocations guard.Revocations) examplev1.GreeterServiceClient {
	t.Helper()
	srv, err := greeter.NewServer(guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: revocations, Clock: e.Clock}), e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	return examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
}

// Disabling a client revokes the tokens it holds: authd refuses them at
// once, a service polling the revocation list after its next poll.
func TestIssueClientToken_DisabledClientsTokensAreRevoked(t *testing.T) {
	w := newReporterWorld(t)
	poller := revocation.NewPoller(w.Conn, revocation.Config{Clock: w.Clock})
	g := clientGreeter(t, w.Env, poller)
	if err := poller.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := w.token(t, "orders:read").AccessToken
	readOrders := func() error {
		_, err := g.ReadOrders(tokens.Bearer(context.Background(), tok), &examplev1.ReadOrdersRequest{})
		return err
	}
	if err := readOrders(); err != nil {
		t.Fatal(err)
	}

	if _, err := w.admin.DisableClient(w.asRoot(), &authv1.DisableClientRequest{Name: "reporter"}); err != nil {
		t.Fatal(err)
	}
	_, err := authzVerify(t, w.Env, tok, authv1.Requirement_REQUIREMENT_ACCESS)
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	if err := readOrders(); err != nil {
		t.Fatalf("before its next poll the greeter cannot know: %v", err)
	}
	w.Clock.Advance(time.Second)
	if err := poller.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	tokens.WantRefusal(t, readOrders(), codes.Unauthenticated, wire.ReasonTokenRevoked)
}

// At a service, a client token passes the rules on scopes and fails those
// on roles: a service account has scopes, never roles, and is never fresh.
func TestIssueClientToken_AtAService(t *testing.T) {
	w := newReporterWorld(t)
	g := clientGreeter(t, w.Env, w.Sessions)
	orders := tokens.Bearer(context.Background(), w.token(t, "orders:read").AccessToken)
	reports := tokens.Bearer(context.Background(), w.token(t, "reports:read").AccessToken)

	resp, err := g.ReadOrders(orders, &examplev1.ReadOrdersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &examplev1.ReadOrdersResponse{Subject: "client:reporter", Scopes: []string{"orders:read"}, Orders: []string{"order-1", "order-2"}}
	if !proto.Equal(resp, want) {
		t.Fatalf("ReadOrders = %v, want %v", resp, want)
	}
	_, err = g.ReadOrders(reports, &examplev1.ReadOrdersRequest{})
	wantPermissionDenied(t, err, wire.ReasonInsufficientScope, wire.MetadataRequiredScopes, "orders:read",
		"insufficient scope: [orders:read] required")
	_, err = g.Admin(orders, &examplev1.AdminRequest{})
	wantPermissionDenied(t, err, wire.ReasonInsufficientRole, wire.MetadataRequiredRoles, "admin",
		"insufficient role: one of [admin] required")
	if who, err := g.WhoAmI(orders, &examplev1.WhoAmIRequest{}); err != nil || who.Subject != "client:reporter" || who.Fresh {
		t.Fatalf("WhoAmI = %v, %v", who, err)
	}
	_, err = g.DeleteAccount(orders, &examplev1.DeleteAccountRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonFreshTokenRequired)
}
