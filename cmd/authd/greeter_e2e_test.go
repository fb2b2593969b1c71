package main

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/wire"
)

var (
	handledLine   = regexp.MustCompile(`^grpc_server_handled_total\{(.*)\} (\S+)$`)
	handledMethod = regexp.MustCompile(`grpc_method="([^"]+)"`)
)

// authServiceCalls reads authd's /metrics and returns how many
// AuthService calls it has answered, by method, whatever their code.
func authServiceCalls(t *testing.T, httpAddr string) map[string]int {
	t.Helper()
	code, body := httpGet(t, "http://"+httpAddr+"/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(body, "\n") {
		m := handledLine.FindStringSubmatch(line)
		if m == nil || !strings.Contains(m[1], `grpc_service="auth.v1.AuthService"`) {
			continue
		}
		method := handledMethod.FindStringSubmatch(m[1])
		n, err := strconv.ParseFloat(m[2], 64)
		if method == nil || err != nil {
			t.Fatalf("unreadable metric line %q", line)
		}
		calls[method[1]] += int(n)
	}
	return calls
}

// The greeter decides roles and scopes from the token alone, with keys from
// authd's JWKS: it answers an admin's Admin and a service account's
// ReadOrders, refuses the others with the exact reason, and asks authd
// nothing per call — no Verify, at most one GetJWKS (none if it fetched the
// keys at startup), one CheckSession per session
// (and its ListRevocations polls, whatever they are).
func TestE2E_GreeterAuthorizesWithTheJWKSAlone(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx := context.Background()
	for _, args := range [][]string{
		{"user", "add", "root", "--role", "admin", "--password-stdin"},
		{"user", "add", "plain", "--role", "support", "--password-stdin"},
	} {
		if _, errOut, code := authd(t, data, accountPassword+"\n", args...); code != 0 {
			t.Fatalf("authd %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
	}
	out, errOut, code := authd(t, data, "", "client", "add", "shipping", "--scope", "orders:read")
	if code != 0 {
		t.Fatalf("client add: exit %d, %s", code, errOut)
	}
	id, secret := clientCredentials(t, out)
	srv := startServe(t, data, nil, "--http-addr", "127.0.0.1:0")
	auth := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login := func(name string) string {
		t.Helper()
		resp, err := auth.Login(ctx, &authv1.LoginRequest{Username: name, Password: accountPassword})
		if err != nil {
			t.Fatal(err)
		}
		return resp.AccessToken
	}
	admin, user := login("root"), login("plain")
	issued, err := issueClientToken(auth, id, secret, "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	machine := issued.AccessToken
	// One Verify of our own, so that the series exists before the greeter
	// runs and reading 0 cannot pass for "not called".
	if _, err := auth.Verify(ctx, &authv1.VerifyRequest{Token: admin}); err != nil {
		t.Fatal(err)
	}

	g := examplev1.NewGreeterServiceClient(dial(t, startGreeter(t, srv.addr)))
	before := authServiceCalls(t, srv.httpAddr)
	if before["Verify"] != 1 || before["Login"] != 2 || before["IssueClientToken"] != 1 {
		t.Fatalf("authd's call counts before the greeter's calls: %v", before)
	}

	adminCall := func(tok string) (*examplev1.AdminResponse, error) {
		return g.Admin(tokens.Bearer(ctx, tok), &examplev1.AdminRequest{})
	}
	ordersCall := func(tok string) (*examplev1.ReadOrdersResponse, error) {
		return g.ReadOrders(tokens.Bearer(ctx, tok), &examplev1.ReadOrdersRequest{})
	}
	if resp, err := adminCall(admin); err != nil || resp.Message != "hello, administrator root" || !slices.Equal(resp.Roles, []string{"admin"}) {
		t.Fatalf("Admin as root (role admin) = %v, %v", resp, err)
	}
	_, err = adminCall(user)
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientRole)
	_, err = adminCall(machine)
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientRole)
	if resp, err := ordersCall(machine); err != nil || resp.Subject != "client:shipping" || !slices.Equal(resp.Scopes, []string{"orders:read"}) {
		t.Fatalf("ReadOrders with the client token (scope orders:read) = %v, %v", resp, err)
	}
	_, err = ordersCall(user)
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientScope)
	_, err = ordersCall(admin)
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientScope)
	for i := range 20 {
		if i%2 == 0 {
			_, err = adminCall(admin)
		} else {
			_, err = ordersCall(machine)
		}
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}

	after := authServiceCalls(t, srv.httpAddr)
	t.Logf("the greeter's calls to authd during 26 of its own: %d GetJWKS, %d CheckSession, %d ListRevocations",
		after["GetJWKS"]-before["GetJWKS"], after["CheckSession"]-before["CheckSession"], after["ListRevocations"]-before["ListRevocations"])
	if after["GetJWKS"] < 1 {
		t.Fatalf("authd never answered GetJWKS, yet the greeter verified tokens: the metric is not what this test reads (%v)", after)
	}
	for method, n := range after {
		grew := n - before[method]
		switch method {
		case "ListRevocations": // polled on the greeter's schedule
		case "GetJWKS":
			if grew > 1 {
				t.Errorf("GetJWKS answered %d times during the greeter's calls, want at most 1", grew)
			}
		case "CheckSession":
			if grew > 3 {
				t.Errorf("CheckSession answered %d times for 3 sessions", grew)
			}
		default:
			if grew != 0 {
				t.Errorf("%s answered %d times during the greeter's calls, want none", method, grew)
			}
		}
	}
	// The counters are live: our own Verify shows at once.
	if _, err := auth.Verify(ctx, &authv1.VerifyRequest{Token: admin}); err != nil {
		t.Fatal(err)
	}
	if n := authServiceCalls(t, srv.httpAddr)["Verify"]; n != after["Verify"]+1 {
		t.Fatalf("Verify count after one more Verify = %d, want %d", n, after["Verify"]+1)
	}
}
