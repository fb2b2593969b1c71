package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/wire"
)

const admin, adminPassword = "root", "root's long password"

// Passkeys in Chromium, with a virtual authenticator: register one after a
// password login and step up with it, log in with it alone, step up with
// it after a refresh, use it as the second factor of a password login; an
// assertion replayed is refused, and once an administrator has reset the
// user's second factors the passkey logs no one in. Page and authd are on
// localhost (WebAuthn refuses IP addresses as relying party IDs), on
// different ports: the cookies are the host's.
func TestBrowser_Passkeys(t *testing.T) {
	chromium, node := need(t)
	dir := t.TempDir()
	authdBin, notesBin, webDir := build(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	data := filepath.Join(dir, "data")
	add := exec.CommandContext(ctx, authdBin, "user", "add", admin, "--role", "authd:admin", "--password-stdin", "--data-dir", data)
	add.Stdin = strings.NewReader(adminPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("authd user add %s: %v\n%s", admin, err, out)
	}
	pagePort := freePort(t)
	page := "http://localhost:" + pagePort
	grpcAddr, httpAddr := startAuthd(ctx, t, authdBin, data, page, "--webauthn-rp-id", "localhost", "--webauthn-origins", page)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	authd := "http://localhost:" + httpPort
	start(ctx, t, "notes", "notes serving", notesBin,
		"--addr", "127.0.0.1:"+pagePort, "--authd", grpcAddr, "--authd-http", authd, "--web", webDir)

	// The administrator, over gRPC, when passkey.mjs asks.
	var resets atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/reset" {
			http.NotFound(w, r)
			return
		}
		resets.Add(1)
		removed, err := resetSecondFactors(r.Context(), grpcAddr, user)
		if err != nil {
			t.Errorf("ResetSecondFactors: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]int32{"removed": removed})
	}))
	defer hook.Close()

	r := driveScript(ctx, t, node, "passkey.mjs", map[string]string{
		"chromium": chromium, "page": page, "authd": authd, "hook": hook.URL, "user": user, "password": password,
	})
	for _, s := range r.Steps {
		t.Logf("step %-28s done at %6d ms", s.Name, s.Ms)
	}

	up := r.step(t, "step-up-required")
	wantLines(t, "ClearNotes after a password login", up.View.since(r.step(t, "login").View),
		"ClearNotes refused: Unauthenticated "+wire.ReasonStepUpRequired)
	if !up.View.Verifying {
		t.Errorf("the page shows no step-up prompt: %+v", up.View)
	}
	registered := r.step(t, "registered")
	wantLines(t, "registering", registered.View.since(up.View), "Passkey registered")
	if registered.Credentials != 1 {
		t.Errorf("the authenticator holds %d credentials, want 1", registered.Credentials)
	}
	stepped := r.step(t, "stepped-up")
	wantLines(t, "stepping up with the passkey", stepped.View.since(registered.View), "Step-up ok", "ClearNotes ok")
	wantSession(t, "after a password and a passkey step-up", stepped.Cookies, "aal2", "pwd", "hwk", "user", "mfa")

	login := r.step(t, "passkey-login")
	wantLines(t, "the passkey login", login.View.since(stepped.View), "Logout ok", "Passkey login ok")
	if !login.View.LoggedIn {
		t.Errorf("after the passkey login the page shows %+v", login.View)
	}
	wantSession(t, "passwordless, with user verification", login.Cookies, "aal2", "hwk", "user", "mfa")

	replay := r.step(t, "replay")
	if replay.Assertions != 1 || len(replay.Results) != 1 {
		t.Fatalf("the page sent %d assertions, %d replayed; want 1", replay.Assertions, len(replay.Results))
	}
	if got := replay.Results[0]; got.Status != http.StatusUnauthorized || !strings.Contains(got.Body, wire.ReasonInvalidCredentials) || strings.Contains(got.Body, "eyJ") {
		t.Errorf("the assertion replayed: %d %s, want 401 %s and no token", got.Status, got.Body, wire.ReasonInvalidCredentials)
	}

	after := r.step(t, "step-up-after-passkey-login")
	wantLines(t, "ClearNotes after a refresh", after.Refused.since(login.View),
		"ClearNotes refused: Unauthenticated "+wire.ReasonTokenMissing, "Refresh ok", "ClearNotes refused: Unauthenticated "+wire.ReasonFreshTokenRequired)
	wantLines(t, "stepping up after the refresh", after.View.since(after.Refused), "Step-up ok", "ClearNotes ok")
	wantSession(t, "stepped up after a passwordless login", after.Cookies, "aal2", "hwk", "user", "mfa")

	second := r.step(t, "second-factor")
	wantLines(t, "a password login with a passkey registered", second.View.since(after.View), "Logout ok", "Second factor required", "Passkey login ok")
	wantSession(t, "a password and a passkey", second.Cookies, "aal2", "pwd", "hwk", "mfa")

	reset := r.step(t, "after-reset")
	if resets.Load() != 1 || reset.Removed != 1 {
		t.Errorf("ResetSecondFactors called %d times, removed %d; want once, 1", resets.Load(), reset.Removed)
	}
	if reset.View.Status != "Refused: Unauthenticated "+wire.ReasonInvalidCredentials || reset.View.LoggedIn || reset.Credentials != 1 {
		t.Errorf("the passkey after the reset (the authenticator holds %d): %+v; want refused %s", reset.Credentials, reset.View, wire.ReasonInvalidCredentials)
	}
	if pw := r.step(t, "password-after-reset"); !pw.View.LoggedIn || pw.View.Verifying {
		t.Errorf("a password login after the reset: %+v, want logged in without a second factor", pw.View)
	}
}

// resetSecondFactors logs the administrator in and resets name's second
// factors through AdminService.
func resetSecondFactors(ctx context.Context, grpcAddr, name string) (int32, error) {
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	login, err := authv1.NewAuthServiceClient(conn).Login(ctx, &authv1.LoginRequest{Username: admin, Password: adminPassword})
	if err != nil {
		return 0, err
	}
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+login.GetAccessToken())
	resp, err := authv1.NewAdminServiceClient(conn).ResetSecondFactors(ctx, &authv1.ResetSecondFactorsRequest{Username: name})
	return resp.GetRemoved(), err
}

// wantSession fails unless the access cookie among cookies holds a token
// whose acr is acr and whose amr is amr.
func wantSession(t *testing.T, what string, cookies []cookie, acr string, amr ...string) {
	t.Helper()
	c, ok := cookieNamed(cookies, wire.AccessCookie)
	if !ok {
		t.Errorf("%s: no access cookie among %+v", what, cookies)
		return
	}
	var claims struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	parts := strings.Split(c.Value, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[min(1, len(parts)-1)])
	if err == nil {
		err = json.Unmarshal(payload, &claims)
	}
	if err != nil || claims.ACR != acr || !slices.Equal(claims.AMR, amr) {
		t.Errorf("%s: the access token says acr %q amr %v (%v); want %q %v", what, claims.ACR, claims.AMR, err, acr, amr)
	}
}
