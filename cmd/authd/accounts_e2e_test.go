package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/wire"
)

// accountPassword is the password of the users these tests add: long and
// uncommon enough for any password policy.
const accountPassword = "staple battery horse correct"

// tokenPayload decodes a JWT's claims as a consumer reads them, without
// checking the signature (authd's Verify does that where it matters).
func tokenPayload(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return claims
}

// rolesClaim returns the token's roles claim, sorted.
func rolesClaim(t *testing.T, raw string) []string {
	t.Helper()
	var roles []string
	if v, ok := tokenPayload(t, raw)["roles"]; ok {
		list, ok := v.([]any)
		if !ok {
			t.Fatalf("roles claim %v is not a list", v)
		}
		for _, r := range list {
			s, ok := r.(string)
			if !ok {
				t.Fatalf("roles claim %v holds a non-string", v)
			}
			roles = append(roles, s)
		}
	}
	slices.Sort(roles)
	return roles
}

// revocationBound is how long after a revocation a running authd may still
// accept the session's tokens: what it read of the session before is
// trusted for session.DefaultCacheTTL; the rest is room for one call
// under a loaded, race-instrumented test run.
const revocationBound = session.DefaultCacheTTL + 500*time.Millisecond

// awaitRevoked waits until authd's Verify refuses tok with TOKEN_REVOKED,
// and fails the test unless it does within revocationBound of since, the
// moment the revocation was made.
func awaitRevoked(t *testing.T, client authv1.AuthServiceClient, what, tok string, since time.Time) {
	t.Helper()
	retry(t, what, since.Add(revocationBound), func() error {
		_, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: tok})
		switch {
		case err == nil:
			return fmt.Errorf("still accepted")
		case status.Code(err) != codes.Unauthenticated || wire.Reason(err) != wire.ReasonTokenRevoked:
			return fmt.Errorf("refused with %v, want Unauthenticated %s", err, wire.ReasonTokenRevoked)
		}
		return nil
	})
}

// clientAddLine is one line `authd client add` prints on stdout.
var clientAddLine = regexp.MustCompile(`^(client_id|client_secret): (\S+)$`)

// clientCredentials reads the client id and secret from `authd client add`'s
// stdout, which must be exactly those two lines, as a script parses them.
func clientCredentials(t *testing.T, stdout string) (id, secret string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("client add printed %q, want two lines: client_id, client_secret", stdout)
	}
	idLine, secretLine := clientAddLine.FindStringSubmatch(lines[0]), clientAddLine.FindStringSubmatch(lines[1])
	if idLine == nil || idLine[1] != "client_id" || secretLine == nil || secretLine[1] != "client_secret" {
		t.Fatalf("client add printed %q, want client_id: … then client_secret: …", stdout)
	}
	return idLine[2], secretLine[2]
}

// issueClientToken asks authd for a client-credentials token.
func issueClientToken(client authv1.AuthServiceClient, id, secret string, scopes ...string) (*authv1.IssueClientTokenResponse, error) {
	return client.IssueClientToken(context.Background(), &authv1.IssueClientTokenRequest{ClientId: id, ClientSecret: secret, Scopes: scopes})
}

// Roles given and changed with the CLI reach access tokens; a change ends
// the user's sessions at a running authd within its cache bound; removing a
// role the user lacks changes nothing.
func TestE2E_UserRolesFromTheCLI(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx := context.Background()
	if out, errOut, code := authd(t, data, accountPassword+"\n", "user", "add", "mallory", "--role", "support", "--role", "billing", "--password-stdin"); code != 0 || out != "user \"mallory\" added\n" {
		t.Fatalf("user add --role: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	srv := startServe(t, data, nil)
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login, err := client.Login(ctx, &authv1.LoginRequest{Username: "mallory", Password: accountPassword})
	if err != nil {
		t.Fatal(err)
	}
	if got := rolesClaim(t, login.AccessToken); !slices.Equal(got, []string{"billing", "support"}) {
		t.Fatalf("roles claim of the access token = %q, want billing and support", got)
	}
	if _, has := tokenPayload(t, login.RefreshToken)["roles"]; has {
		t.Fatal("the refresh token carries roles")
	}
	out, errOut, code := authd(t, data, "", "user", "roles", "mallory")
	if lines := strings.Fields(out); code != 0 || strings.Count(out, "\n") != 2 || !slices.Equal(slices.Sorted(slices.Values(lines)), []string{"billing", "support"}) {
		t.Fatalf("user roles: exit %d, stdout %q, stderr %q; want billing and support, one a line", code, out, errOut)
	}
	// authd remembers the session as live from this Verify on.
	verified, err := client.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(verified.Claims.Roles)); !slices.Equal(got, []string{"billing", "support"}) {
		t.Fatalf("Verify's claims.roles = %q, want billing and support", got)
	}

	out, errOut, code = authd(t, data, "", "user", "roles", "mallory", "--add", "ops", "--remove", "support")
	changed := time.Now()
	if code != 0 || out != "user \"mallory\" now has roles [billing ops]; 1 session(s) revoked\n" {
		t.Fatalf("user roles --add --remove: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	awaitRevoked(t, client, "authd refuses the access token from before the role change", login.AccessToken, changed)
	_, err = client.Refresh(tokens.Bearer(ctx, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	again, err := client.Login(ctx, &authv1.LoginRequest{Username: "mallory", Password: accountPassword})
	if err != nil {
		t.Fatal(err)
	}
	if got := rolesClaim(t, again.AccessToken); !slices.Equal(got, []string{"billing", "ops"}) {
		t.Fatalf("roles claim after the change = %q, want billing and ops", got)
	}
	if out, _, _ := authd(t, data, "", "user", "roles", "mallory"); out != "billing\nops\n" {
		t.Fatalf("user roles after the change: %q", out)
	}

	// Removing a role the user lacks changes nothing, not even the --add
	// beside it, and ends no session.
	out, errOut, code = authd(t, data, "", "user", "roles", "mallory", "--add", "extra", "--remove", "support")
	if code != 2 || out != "" || !strings.Contains(errOut, `user "mallory" has no role "support"`) {
		t.Fatalf("removing a role the user lacks: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, _, _ := authd(t, data, "", "user", "roles", "mallory"); out != "billing\nops\n" {
		t.Fatalf("user roles after a refused change: %q", out)
	}
	if _, err := client.Refresh(tokens.Bearer(ctx, again.RefreshToken), &authv1.RefreshRequest{}); err != nil {
		t.Fatalf("a refused change ended the session: %v", err)
	}

	out, errOut, code = authd(t, data, "", "user", "list")
	if code != 0 || !regexp.MustCompile(`^NAME\s+STATUS\s+SECOND_FACTOR\s+CREATED\s+UPDATED\s+ROLES\n`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^mallory\s+enabled\s+no\s+\S+\s+\S+\s+billing,ops$`).MatchString(out) ||
		strings.Count(out, "\n") != 2 {
		t.Fatalf("user list: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

// Bad role input and a service account's name are usage errors (exit 2)
// that create and change nothing.
func TestE2E_UserRolesRefuseBadInput(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, errOut, code := authd(t, data, accountPassword+"\n", "user", "add", "mallory", "--role", "ops", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d, %s", code, errOut)
	}
	for _, bad := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"upper-case role", []string{"user", "add", "eve", "--role", "BAD", "--password-stdin"}, `--role: name "BAD"`},
		{"--role with roles", []string{"user", "roles", "mallory", "--role", "ops"}, "--role goes with user add"},
		{"upper-case --add", []string{"user", "roles", "mallory", "--add", "Admin"}, `name "Admin"`},
		{"a service account's name", []string{"user", "add", "client:x", "--password-stdin"}, "kept for service accounts"},
	} {
		out, errOut, code := authd(t, data, accountPassword+"\n", bad.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, bad.stderr) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 saying %q", bad.name, code, out, errOut, bad.stderr)
		}
	}
	for _, name := range []string{"eve", "client:x"} {
		if _, errOut, code := authd(t, data, "", "user", "roles", name); code != 1 || !strings.Contains(errOut, fmt.Sprintf("user %q not found", name)) {
			t.Errorf("user %q after a refused add: user roles says exit %d, %q; want not found", name, code, errOut)
		}
	}
	if out, _, _ := authd(t, data, "", "user", "roles", "mallory"); out != "ops\n" {
		t.Errorf("user roles after refused commands: %q", out)
	}
	if out, _, _ := authd(t, data, "", "user", "list"); strings.Count(out, "\n") != 2 {
		t.Errorf("user list after refused adds:\n%s", out)
	}
}

// startWithClient adds the service account billing (scopes orders:read and
// orders:write) with the CLI and starts authd; it returns the data dir, the
// client's id and secret, and a client of authd.
func startWithClient(t *testing.T) (data, id, secret string, client authv1.AuthServiceClient) {
	t.Helper()
	data = t.TempDir()
	out, errOut, code := authd(t, data, "", "client", "add", "billing", "--scope", "orders:read", "--scope", "orders:write")
	if code != 0 || !strings.Contains(errOut, "shown once") {
		t.Fatalf("client add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	id, secret = clientCredentials(t, out)
	return data, id, secret, authv1.NewAuthServiceClient(dial(t, startServe(t, data, nil).addr))
}

// A service account made with the CLI gets tokens from a running authd
// with the secret the CLI printed; adding it again changes nothing; the
// client commands know no other name.
func TestE2E_ServiceAccountsFromTheCLI(t *testing.T) {
	t.Parallel()
	data, id, secret, client := startWithClient(t)
	ctx := context.Background()
	issued, err := issueClientToken(client, id, secret, "orders:read")
	if err != nil {
		t.Fatalf("IssueClientToken with the secret client add printed: %v", err)
	}
	if issued.Scope != "orders:read" || issued.TokenType != "Bearer" || issued.ExpiresIn <= 0 {
		t.Fatalf("IssueClientToken = %v", issued)
	}
	if claims := tokenPayload(t, issued.AccessToken); claims["sub"] != "client:billing" || claims["scope"] != "orders:read" {
		t.Fatalf("client token claims: sub %v, scope %v", claims["sub"], claims["scope"])
	}
	verified, err := client.Verify(ctx, &authv1.VerifyRequest{Token: issued.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if c := verified.Claims; c.Subject != "client:billing" || !slices.Equal(c.Scopes, []string{"orders:read"}) || c.Fresh {
		t.Fatalf("Verify of the client token: %v", c)
	}
	all, err := issueClientToken(client, id, secret)
	if err != nil || all.Scope != "orders:read orders:write" {
		t.Fatalf("IssueClientToken without scopes = %v, %v; want every granted scope", all, err)
	}
	_, err = issueClientToken(client, id, secret, "orders:delete")
	tokens.WantRefusal(t, err, codes.PermissionDenied, wire.ReasonInsufficientScope)

	out, errOut, code := authd(t, data, "", "client", "add", "billing", "--scope", "orders:read")
	if code != 1 || out != "" || !strings.Contains(errOut, `client "billing" already exists`) {
		t.Fatalf("second client add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := issueClientToken(client, id, secret, "orders:write"); err != nil {
		t.Fatalf("a refused client add changed the client: %v", err)
	}
	out, errOut, code = authd(t, data, "", "client", "list")
	listed := regexp.MustCompile(`(?m)^billing\s+` + regexp.QuoteMeta(id) + `\s+enabled\s+\S+\s+orders:read,orders:write\s+bearer$`)
	if code != 0 || !regexp.MustCompile(`^NAME\s+CLIENT_ID\s+STATUS\s+CREATED\s+SCOPES\s+BINDING\n`).MatchString(out) || !listed.MatchString(out) || strings.Count(out, "\n") != 2 {
		t.Fatalf("client list: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	if out, _, _ := authd(t, data, "", "user", "list"); strings.Contains(out, "billing") {
		t.Fatalf("user list shows the service account:\n%s", out)
	}

	// A person is not a service account, and an unknown name is no client.
	authd(t, data, accountPassword+"\n", "user", "add", "alice", "--password-stdin")
	for _, args := range [][]string{
		{"client", "disable", "nosuch"},
		{"client", "enable", "nosuch"},
		{"client", "rotate-secret", "nosuch"},
		{"client", "disable", "alice"},
		{"client", "rotate-secret", "alice"},
	} {
		out, errOut, code := authd(t, data, "", args...)
		if code != 1 || out != "" || !strings.Contains(errOut, fmt.Sprintf("client %q not found", args[2])) {
			t.Errorf("authd %s: exit %d, stdout %q, stderr %q; want exit 1, not found", strings.Join(args, " "), code, out, errOut)
		}
	}
	if _, err := client.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: accountPassword}); err != nil {
		t.Fatalf("client commands on a person's name changed the person: %v", err)
	}
	for _, args := range [][]string{
		{"client", "add", "Billing2"},
		{"client", "add", "other", "--scope", "Orders"},
		{"client", "list", "--scope", "orders:read"},
	} {
		if out, errOut, code := authd(t, data, "", args...); code != 2 || out != "" {
			t.Errorf("authd %s: exit %d, stdout %q, stderr %q; want exit 2", strings.Join(args, " "), code, out, errOut)
		}
	}
	if out, _, _ := authd(t, data, "", "client", "list"); strings.Count(out, "\n") != 2 {
		t.Fatalf("refused client adds made clients:\n%s", out)
	}
}

// client disable revokes the tokens the client holds (at a running authd
// within its cache bound) and refuses it new ones; client enable gives it
// tokens again, but not back the revoked ones.
func TestE2E_ClientDisableAndEnable(t *testing.T) {
	t.Parallel()
	data, id, secret, client := startWithClient(t)
	ctx := context.Background()
	var held []string
	for _, scope := range []string{"orders:read", "orders:write"} {
		issued, err := issueClientToken(client, id, secret, scope)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, issued.AccessToken)
	}
	// authd remembers the sessions as live from these Verifies on.
	for _, tok := range held {
		if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: tok}); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code := authd(t, data, "", "client", "disable", "billing")
	disabled := time.Now()
	if code != 0 || out != "client \"billing\" disabled; 2 token(s) revoked\n" {
		t.Fatalf("client disable: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, tok := range held {
		awaitRevoked(t, client, "authd refuses the client's token after client disable", tok, disabled)
	}
	_, err := issueClientToken(client, id, secret, "orders:read")
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	if out, _, _ := authd(t, data, "", "client", "list"); !regexp.MustCompile(`(?m)^billing\s+\S+\s+disabled\s`).MatchString(out) {
		t.Fatalf("client list after disable:\n%s", out)
	}

	out, errOut, code = authd(t, data, "", "client", "enable", "billing")
	if code != 0 || out != "client \"billing\" enabled\n" {
		t.Fatalf("client enable: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	reissued, err := issueClientToken(client, id, secret, "orders:read")
	if err != nil {
		t.Fatalf("IssueClientToken after client enable: %v", err)
	}
	if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: reissued.AccessToken}); err != nil {
		t.Fatalf("Verify of a token issued after client enable: %v", err)
	}
	_, err = client.Verify(ctx, &authv1.VerifyRequest{Token: held[0]})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
	if out, _, _ := authd(t, data, "", "client", "list"); !regexp.MustCompile(`(?m)^billing\s+\S+\s+enabled\s`).MatchString(out) {
		t.Fatalf("client list after enable:\n%s", out)
	}
}

// client rotate-secret prints the new secret alone on stdout; the old
// secret is refused at once, and the tokens issued with it at a running
// authd within its cache bound; the new secret works.
func TestE2E_ClientRotateSecret(t *testing.T) {
	t.Parallel()
	data, id, secret, client := startWithClient(t)
	ctx := context.Background()
	issued, err := issueClientToken(client, id, secret, "orders:read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: issued.AccessToken}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := authd(t, data, "", "client", "rotate-secret", "billing")
	rotated := time.Now()
	m := regexp.MustCompile(`^client_secret: (\S+)\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] == secret || !strings.Contains(errOut, "1 token(s) issued with it revoked") {
		t.Fatalf("client rotate-secret: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	newSecret := m[1]
	_, err = issueClientToken(client, id, secret, "orders:read")
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonInvalidCredentials)
	awaitRevoked(t, client, "authd refuses the token issued with the old secret", issued.AccessToken, rotated)
	fresh, err := issueClientToken(client, id, newSecret, "orders:read")
	if err != nil {
		t.Fatalf("IssueClientToken with the new secret: %v", err)
	}
	if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: fresh.AccessToken}); err != nil {
		t.Fatalf("Verify of a token issued with the new secret: %v", err)
	}
}
