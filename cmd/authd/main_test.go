package main_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

// authdBin is the real binary, built once for every test here.
var authdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-e2e")
	if err != nil {
		panic(err)
	}
	authdBin = filepath.Join(dir, "authd")
	if out, err := exec.Command("go", "build", "-o", authdBin, ".").CombinedOutput(); err != nil {
		panic("build authd: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// authd runs a CLI command to completion and returns its output and exit code.
func authd(t *testing.T, dataDir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(authdBin, args...)
	cmd.Env = append(os.Environ(), "AUTHD_DATA_DIR="+dataDir)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

var servingAddr = regexp.MustCompile(`msg="authd serving" addr=(\S+)`)

// startServe starts `authd serve` on a free loopback port and returns the
// process and its gRPC address; the process is stopped with t.
func startServe(t *testing.T, dataDir string, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(authdBin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "AUTHD_DATA_DIR="+dataDir), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if m := servingAddr.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1]
		}
	}
	t.Fatal("authd exited before serving")
	return nil, ""
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestE2E_AddUserThenLoginOverTCP(t *testing.T) {
	data := t.TempDir()
	cmd, addr := startServe(t, data, nil)
	if out, errOut, code := authd(t, data, "correct horse\n", "user", "add", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s%s", code, out, errOut)
	}
	conn := dial(t, addr)
	client := authv1.NewAuthServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	login, err := client.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	verified, err := client.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken})
	if err != nil || verified.Claims.Subject != "alice" || !verified.Claims.Fresh {
		t.Fatalf("Verify = %v, %v", verified, err)
	}
	health, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || health.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", health, err)
	}

	for _, mode := range []os.FileMode{statMode(t, filepath.Join(data, "authd.db")), keyFileMode(t, data)} {
		if mode.Perm() != 0o600 {
			t.Errorf("file mode %v, want 0600", mode.Perm())
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("authd did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestE2E_DuplicateUserAddLeavesUserUntouched(t *testing.T) {
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "first password\n", "user", "add", "--password-stdin", "bob"); code != 0 {
		t.Fatalf("first add: exit %d: %s", code, errOut)
	}
	_, errOut, code := authd(t, data, "second password\n", "user", "add", "--password-stdin", "bob")
	if code == 0 || !strings.Contains(errOut, `user "bob" already exists`) {
		t.Fatalf("duplicate add: exit %d, stderr %q", code, errOut)
	}
	_, addr := startServe(t, data, nil)
	client := authv1.NewAuthServiceClient(dial(t, addr))
	if _, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "bob", Password: "first password"}); err != nil {
		t.Fatalf("original password no longer works: %v", err)
	}
}

func TestE2E_UserLifecycle(t *testing.T) {
	data := t.TempDir()
	authd(t, data, "pw-one\n", "user", "add", "carol", "--password-stdin")
	_, addr := startServe(t, data, nil)
	client := authv1.NewAuthServiceClient(dial(t, addr))
	ctx := context.Background()
	login, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-one"})
	if err != nil {
		t.Fatal(err)
	}

	if out, errOut, code := authd(t, data, "", "user", "disable", "carol"); code != 0 || !strings.Contains(out, "1 session(s) revoked") {
		t.Fatalf("disable: exit %d: %s%s", code, out, errOut)
	}
	if _, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-one"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("disabled user logged in: %v", err)
	}
	if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("token of disabled user still verifies: %v", err)
	}
	// Services polling authd hear of the revocation.
	claims, err := client.Verify(ctx, &authv1.VerifyRequest{Token: login.RefreshToken, Requirement: authv1.Requirement_REQUIREMENT_PUBLIC})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("refresh token of disabled user: %v, %v", claims, err)
	}
	revs, err := client.ListRevocations(ctx, &authv1.ListRevocationsRequest{})
	if err != nil || len(revs.Revocations) != 1 || revs.Revocations[0].Sid == "" {
		t.Fatalf("ListRevocations after disable: %v, %v", revs, err)
	}
	authd(t, data, "", "user", "enable", "carol")
	authd(t, data, "pw-two\n", "user", "passwd", "carol", "--password-stdin")
	again, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-two"})
	if err != nil {
		t.Fatalf("login with new password: %v", err)
	}
	// Logout with the refresh token ends the session.
	bearer := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+again.RefreshToken)
	if _, err := client.Logout(bearer, &authv1.LogoutRequest{}); err != nil {
		t.Fatalf("logout with the refresh token: %v", err)
	}
	if _, err := client.Refresh(bearer, &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("refresh after logout: %v", err)
	}
	out, _, _ := authd(t, data, "", "user", "list")
	if !regexp.MustCompile(`(?m)^carol\s+enabled\s`).MatchString(out) {
		t.Fatalf("user list:\n%s", out)
	}
}

func TestE2E_CorruptKeyRefusesToStart(t *testing.T) {
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "", "keys", "list"); code != 0 {
		t.Fatalf("keys list: %s", errOut)
	}
	keys, _ := filepath.Glob(filepath.Join(data, "keys", "*.pem"))
	if len(keys) != 1 {
		t.Fatalf("key files = %v, want 1 created on first use", keys)
	}
	if err := os.WriteFile(keys[0], []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := authd(t, data, "", "serve", "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(errOut, "signing key") {
		t.Fatalf("serve with corrupt key: exit %d, stderr %q", code, errOut)
	}
	after, _ := filepath.Glob(filepath.Join(data, "keys", "*.pem"))
	if len(after) != 1 {
		t.Fatalf("authd made a new key next to the corrupt one: %v", after)
	}
}

func TestE2E_ConfigFromEnvAndFlags(t *testing.T) {
	data := t.TempDir()
	authd(t, data, "pw\n", "user", "add", "dave", "--password-stdin")
	_, addr := startServe(t, data, []string{"AUTHD_ACCESS_TTL=1m", "AUTHD_ISSUER=from-env"}, "--issuer", "from-flag")
	client := authv1.NewAuthServiceClient(dial(t, addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "dave", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if login.ExpiresIn != 60 {
		t.Errorf("expires_in = %d, want 60 from AUTHD_ACCESS_TTL", login.ExpiresIn)
	}
	v, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: login.AccessToken})
	if err != nil || v.Claims.Issuer != "from-flag" {
		t.Errorf("issuer = %v (%v), want the flag to win over the env", v.GetClaims().GetIssuer(), err)
	}
}

func TestE2E_ConfigFile(t *testing.T) {
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "authd.conf")
	os.WriteFile(conf, []byte("# authd settings\naccess-ttl = 2m\nissuer = \"from file\"\naudience = from-file\n\nrefresh-ttl=1h\n"), 0o600)
	// One file serves `user add` too: it skips the serve-only settings.
	if _, errOut, code := authd(t, data, "pw\n", "user", "add", "gina", "--password-stdin", "--config", conf); code != 0 {
		t.Fatalf("user add with a config file: %d %s", code, errOut)
	}
	_, addr := startServe(t, data, []string{"AUTHD_CONFIG=" + conf, "AUTHD_AUDIENCE=from-env"}, "--access-ttl", "3m")
	client := authv1.NewAuthServiceClient(dial(t, addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "gina", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if login.ExpiresIn != 180 || login.RefreshExpiresIn != 3600 {
		t.Errorf("expires_in %d, refresh_expires_in %d; want 180 (flag over file), 3600 (file)", login.ExpiresIn, login.RefreshExpiresIn)
	}
	v, err := client.Verify(context.Background(), &authv1.VerifyRequest{Token: login.AccessToken})
	if err != nil || v.Claims.Issuer != "from file" || v.Claims.Audience[0] != "from-env" {
		t.Errorf("claims %v (%v); want issuer from the file, audience from the env", v.GetClaims(), err)
	}
	for name, body := range map[string]string{"typo": "acess-ttl = 1m\n", "no equals": "access-ttl 1m\n", "bad value": "access-ttl = soon\n"} {
		bad := filepath.Join(t.TempDir(), "bad.conf")
		os.WriteFile(bad, []byte(body), 0o600)
		if _, errOut, code := authd(t, data, "", "serve", "--config", bad); code != 2 || !strings.Contains(errOut, "bad.conf:1") {
			t.Errorf("%s: exit %d, stderr %q; want usage error naming the line", name, code, errOut)
		}
	}
}

func TestE2E_BadUsage(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"user", "add"},
		{"serve", "--leeway", "2m"},
		{"serve", "--hs256-secret-file", "/nonexistent"},
	} {
		_, errOut, code := authd(t, data, "", args...)
		if code == 0 || !strings.HasPrefix(errOut, "authd: ") {
			t.Errorf("authd %q: exit %d, stderr %q; want an error", args, code, errOut)
		}
	}
	short := filepath.Join(data, "short.secret")
	os.WriteFile(short, []byte("too short\n"), 0o600)
	_, errOut, code := authd(t, data, "", "serve", "--hs256-secret-file", short)
	if code == 0 || !strings.Contains(errOut, "at least 32") {
		t.Errorf("short secret: exit %d, stderr %q", code, errOut)
	}
}

func statMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func keyFileMode(t *testing.T, data string) os.FileMode {
	keys, _ := filepath.Glob(filepath.Join(data, "keys", "*.pem"))
	if len(keys) == 0 {
		t.Fatal("no key file")
	}
	return statMode(t, keys[0])
}

// TestE2E_Grpcurl drives a real authd with grpcurl through server
// reflection, as the README shows, and checks the exit code and ErrorInfo
// reason of a refusal.
func TestE2E_Grpcurl(t *testing.T) {
	grpcurl := filepath.Join(t.TempDir(), "grpcurl")
	build := exec.Command("go", "build", "-modfile=tools/go.mod", "-o", grpcurl, "github.com/fullstorydev/grpcurl/cmd/grpcurl")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build grpcurl: %v\n%s", err, out)
	}
	data := t.TempDir()
	_, addr := startServe(t, data, nil)
	authd(t, data, "correct horse\n", "user", "add", "erin", "--password-stdin")
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(grpcurl, append([]string{"-plaintext"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	out, errOut, code := run("-d", `{"username":"erin","password":"correct horse"}`, addr, "auth.v1.AuthService/Login")
	if code != 0 || !strings.Contains(out, `"tokenType": "Bearer"`) {
		t.Fatalf("Login: exit %d\n%s%s", code, out, errOut)
	}
	access := regexp.MustCompile(`"accessToken": "([^"]+)"`).FindStringSubmatch(out)[1]
	out, _, code = run("-d", `{"token":"`+access+`"}`, addr, "auth.v1.AuthService/Verify")
	if code != 0 || !strings.Contains(out, `"subject": "erin"`) {
		t.Fatalf("Verify: exit %d\n%s", code, out)
	}
	_, errOut, code = run("-H", "authorization: Bearer "+access, addr, "auth.v1.AuthService/Refresh")
	if code != 64+int(codes.Unauthenticated) || !strings.Contains(errOut, "WRONG_TOKEN_TYPE") {
		t.Fatalf("Refresh with an access token: exit %d\n%s", code, errOut)
	}
}
