package main

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
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

// The greeter's Transfer against real processes: a password login is asked
// to step up; the same session, stepped up with the authenticator's code,
// may transfer, and so may a login completed with a recovery code.
func TestE2E_GreeterTransferNeedsASecondFactor(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx := context.Background()
	if _, errOut, code := authd(t, data, accountPassword+"\n", "user", "add", "payer", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d, %s", code, errOut)
	}
	srv := startServe(t, data, nil)
	auth := authv1.NewAuthServiceClient(dial(t, srv.addr))
	g := examplev1.NewGreeterServiceClient(dial(t, startGreeter(t, srv.addr)))
	transfer := func(tok string) error {
		_, err := g.Transfer(tokens.Bearer(ctx, tok), &examplev1.TransferRequest{Amount: 1200, To: "bob"})
		return err
	}
	login, err := auth.Login(ctx, &authv1.LoginRequest{Username: "payer", Password: accountPassword})
	if err != nil {
		t.Fatal(err)
	}
	tokens.WantRefusal(t, transfer(login.AccessToken), codes.Unauthenticated, wire.ReasonStepUpRequired)

	// Codes of consecutive 30-second steps: authd takes each step's once.
	bearer, now := tokens.Bearer(ctx, login.AccessToken), time.Now()
	enrol, err := auth.EnrollTOTP(bearer, &authv1.EnrollTOTPRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(enrol.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	confirmed, err := auth.ConfirmTOTP(bearer, &authv1.ConfirmTOTPRequest{Code: code(now)})
	if err != nil {
		t.Fatal(err)
	}
	stepped, err := auth.StepUp(bearer, &authv1.StepUpRequest{Code: code(now.Add(30 * time.Second))})
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer(stepped.AccessToken); err != nil {
		t.Fatalf("Transfer after StepUp: %v", err)
	}

	again, err := auth.Login(ctx, &authv1.LoginRequest{Username: "payer", Password: accountPassword})
	if err != nil || !again.SecondFactorRequired {
		t.Fatalf("Login after enrolment = %v, %v; want second_factor_required", again, err)
	}
	done, err := auth.LoginSecondFactor(ctx, &authv1.LoginSecondFactorRequest{SecondFactorToken: again.SecondFactorToken, RecoveryCode: confirmed.RecoveryCodes[0]})
	if err != nil {
		t.Fatal(err)
	}
	if err := transfer(done.AccessToken); err != nil {
		t.Fatalf("Transfer after LoginSecondFactor: %v", err)
	}
}
