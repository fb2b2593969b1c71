package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// serveJSON starts `authd serve --log-format json` with an HTTP listener.
func serveJSON(t *testing.T, dataDir string, args ...string) *instance {
	t.Helper()
	return startServe(t, dataDir, nil, append([]string{"--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestE2E_HTTPReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "long enough pw\n", "user", "add", "erin", "--password-stdin")
	srv := serveJSON(t, data)
	base := "http://" + srv.httpAddr
	for _, path := range []string{"/healthz", "/readyz", "/.well-known/jwks.json"} {
		if code, body := httpGet(t, base+path); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct{ Kid, Kty, Crv, X, Alg, Use string } `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") || len(set.Keys) != 1 || set.Keys[0].Kty != "OKP" || set.Keys[0].Alg != "EdDSA" {
		t.Fatalf("JWKS: Cache-Control %q, keys %+v", cc, set.Keys)
	}
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "erin", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	client.Login(context.Background(), &authv1.LoginRequest{Username: "erin", Password: "wrong"})
	client.Refresh(tokens.Bearer(bg, login.AccessToken), &authv1.RefreshRequest{}) // WRONG_TOKEN_TYPE
	if _, err := client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	// A second session: three rotations, then its first refresh token, an
	// older ancestor, is reuse.
	other, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "erin", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := client.Refresh(tokens.Bearer(bg, other.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	third, err := client.Refresh(tokens.Bearer(bg, next.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Refresh(tokens.Bearer(bg, third.RefreshToken), &authv1.RefreshRequest{}); err != nil {
		t.Fatal(err)
	}
	client.Refresh(tokens.Bearer(bg, other.RefreshToken), &authv1.RefreshRequest{}) // reuse
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`authd_logins_total{result="ok"} 2`,
		`authd_refreshes_total{result="ok"} 3`,
		`authd_refreshes_total{result="refused"} 1`,
		`authd_refresh_reuse_detected_total 1`,
		`authd_session_revocations_total{cause="reuse"} 1`,
		`authd_logins_total{result="failed"} 1`,
		`authd_auth_failures_total{reason="WRONG_TOKEN_TYPE"} 1`,
		`authd_session_revocations_total{cause="logout"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Login",grpc_service="auth.v1.AuthService",grpc_type="unary"} 2`,
		`grpc_server_handling_seconds_bucket{grpc_method="Login"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Every secret that went through authd is looked for in its logs: the
// passwords, the tokens (and their signatures alone), the private key.
func TestE2E_LogsHoldNoSecretsAndCarryRequestIDs(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const pw, newPW, wrongPW = "first-secret-password", "second-secret-password", "wrong-secret-password"
	authd(t, data, pw+"\n", "user", "add", "frank", "--password-stdin")
	srv := serveJSON(t, data)
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	ctx := context.Background()

	var header metadata.MD
	login, err := client.Login(metadata.AppendToOutgoingContext(ctx, "x-request-id", "trace-123"),
		&authv1.LoginRequest{Username: "frank", Password: pw}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-request-id"); len(got) != 1 || got[0] != "trace-123" {
		t.Fatalf("x-request-id echoed = %q", got)
	}
	client.Login(ctx, &authv1.LoginRequest{Username: "frank", Password: wrongPW})
	refreshed, err := client.Refresh(tokens.Bearer(bg, login.RefreshToken), &authv1.RefreshRequest{})
	if err != nil {
		t.Fatal(err)
	}
	client.Refresh(tokens.Bearer(bg, login.AccessToken), &authv1.RefreshRequest{})
	client.Verify(ctx, &authv1.VerifyRequest{Token: refreshed.AccessToken + "x"})
	if _, err := client.ChangePassword(tokens.Bearer(bg, login.AccessToken), &authv1.ChangePasswordRequest{OldPassword: pw, NewPassword: newPW}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Logout(tokens.Bearer(bg, refreshed.RefreshToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	// Stop authd and read everything it logged.
	srv.terminate(t)
	srv.log.awaitEnd(t)

	secrets := map[string]string{"password": pw, "new password": newPW, "wrong password": wrongPW}
	for name, tok := range map[string]string{"access": login.AccessToken, "refresh": login.RefreshToken,
		"refreshed access": refreshed.AccessToken, "refreshed refresh": refreshed.RefreshToken} {
		secrets[name+" token"] = tok
		secrets[name+" signature"] = tok[strings.LastIndex(tok, ".")+1:]
	}
	keyFiles, _ := filepath.Glob(filepath.Join(data, "keys", "*.pem"))
	for _, f := range keyFiles {
		pem, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(pem), "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") {
				secrets["private key "+f] = line
			}
		}
	}
	out := srv.log.String()
	for name, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}

	calls, withID := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "finished call" {
			calls++
			if id, _ := rec["request_id"].(string); id != "" {
				withID++
			}
		}
	}
	if calls < 7 || withID != calls {
		t.Fatalf("%d call lines, %d with a request_id", calls, withID)
	}
	if !strings.Contains(out, `"request_id":"trace-123"`) {
		t.Fatal("the caller's request id is not in the logs")
	}
}
