package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
)

var bg = context.Background()

// authdBin is the real binary, and greeterBin the example consumer, built
// once for the tests that need a process: signals, a kill, the build's
// version, a fleet of instances, the example consumer. Everything else
// runs authd's main in-process (run), in parallel.
var authdBin, greeterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authd-e2e")
	if err != nil {
		panic(err)
	}
	authdBin, greeterBin = filepath.Join(dir, "authd"), filepath.Join(dir, "greeter")
	// One go build links both at once, in about the time of one.
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), ".", "../../examples/greeter/cmd/greeter")
	if out, err := build.CombinedOutput(); err != nil {
		panic("build authd and greeter: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// environ is the environment of a command run in-process: the settings a
// test gives (KEY=value), and AUTHD_DATA_DIR. Nothing of the test
// process's own environment leaks in.
func environ(dataDir string, settings []string) env {
	vars := map[string]string{"AUTHD_DATA_DIR": dataDir}
	for _, kv := range settings {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// authd runs a CLI command to completion and returns its output and exit code.
func authd(t *testing.T, dataDir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return authdWith(t, nil, dataDir, stdin, args...)
}

// authdWith is authd with settings in its environment (KEY=value): the
// command runs in-process, as main would run it.
func authdWith(t *testing.T, settings []string, dataDir, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(bg, args, environ(dataDir, settings), strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// patience bounds every wait for a server (to start, to log an event, to
// act on a signal or a message): it only turns a hang into a failure, so it
// is generous; nothing passes for being quick.
const patience = 15 * time.Second

// instance is a running `authd serve`: in-process (startServe) or a
// process (startProcess, when the test sends it signals).
type instance struct {
	cmd      *exec.Cmd // nil in-process
	cancel   func()    // in-process: what SIGTERM does to a process
	addr     string    // gRPC
	httpAddr string    // "" without --http-addr
	log      *processLog
}

// startServe runs `authd serve` in-process on a free loopback port with
// settings in its environment; it is stopped, as by SIGTERM, with t.
func startServe(t *testing.T, dataDir string, settings []string, args ...string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), environ(dataDir, settings), strings.NewReader(""), io.Discard, w)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return awaitServing(t, &instance{cancel: cancel, log: readLog(r)})
}

// startProcess starts `authd serve` as a process of the real binary, for
// the tests that signal or kill it; it is killed with t.
func startProcess(t *testing.T, dataDir string, settings []string, args ...string) *instance {
	t.Helper()
	return startProcessBin(t, authdBin, dataDir, settings, args...)
}

// startProcessBin is startProcess of the authd binary bin (another build,
// for before-and-after measurements).
func startProcessBin(t *testing.T, bin, dataDir string, settings []string, args ...string) *instance {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "AUTHD_DATA_DIR="+dataDir), settings...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return awaitServing(t, &instance{cmd: cmd, log: readLog(stderr)})
}

// terminate stops s as SIGTERM does: a graceful shutdown.
func (s *instance) terminate(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		s.cancel()
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// awaitServing waits for s's "authd serving" line and reads its addresses.
func awaitServing(t *testing.T, s *instance) *instance {
	t.Helper()
	s.log.await(t, 0, "authd serving", func(line string) bool {
		var ok bool
		s.addr, s.httpAddr, ok = servingLine(line)
		return ok
	})
	return s
}

var servingText = regexp.MustCompile(`msg="authd serving" addr=(\S+) http_addr=(\S*)`)

// servingLine reads the addresses from authd's "authd serving" line, in the
// text or the JSON log format.
func servingLine(line string) (addr, httpAddr string, ok bool) {
	var rec struct {
		Msg      string `json:"msg"`
		Addr     string `json:"addr"`
		HTTPAddr string `json:"http_addr"`
	}
	if json.Unmarshal([]byte(line), &rec) == nil {
		return rec.Addr, rec.HTTPAddr, rec.Msg == "authd serving"
	}
	if m := servingText.FindStringSubmatch(line); m != nil {
		return m[1], strings.Trim(m[2], `"`), true
	}
	return "", "", false
}

// processLog is what a process writes to stderr, kept line by line so that
// a test can wait for the line that marks an event (a reload done or
// refused) instead of sleeping and hoping it happened.
type processLog struct {
	mu      sync.Mutex
	lines   []string
	ended   bool          // the process closed its stderr
	changed chan struct{} // closed, and replaced, at each line and at the end
}

// readLog collects r's lines until it ends.
func readLog(r io.Reader) *processLog {
	l := &processLog{changed: make(chan struct{})}
	go func() {
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			l.mu.Lock()
			if line != "" {
				l.lines = append(l.lines, strings.TrimSuffix(line, "\n"))
			}
			l.ended = err != nil
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return l
}

// mark is the number of lines so far: the index from which a later await
// looks for what happens next.
func (l *processLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// String returns everything logged so far.
func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// await waits for a line from index from on that match accepts; it fails
// the test if the process ends or patience runs out first.
func (l *processLog) await(t *testing.T, from int, what string, match func(line string) bool) {
	t.Helper()
	timeout := time.After(patience)
	for {
		l.mu.Lock()
		lines, ended, changed := l.lines, l.ended, l.changed
		l.mu.Unlock()
		for ; from < len(lines); from++ {
			if match(lines[from]) {
				return
			}
		}
		if ended {
			t.Fatalf("waiting for %s: the process ended. It logged:\n%s", what, l)
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("waiting for %s: not logged within %v. The process logged:\n%s", what, patience, l)
		}
	}
}

// awaitEnd waits for the process to close its stderr: it is exiting.
func (l *processLog) awaitEnd(t *testing.T) {
	t.Helper()
	timeout := time.After(patience)
	for {
		l.mu.Lock()
		ended, changed := l.ended, l.changed
		l.mu.Unlock()
		if ended {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the process did not exit within %v. It logged:\n%s", patience, l)
		}
	}
}

// awaitMsg waits for a line from index from on whose message is msg (text
// format) and that has every attr (key=value).
func (l *processLog) awaitMsg(t *testing.T, from int, msg string, attrs ...string) {
	t.Helper()
	quoted := `msg="` + msg + `"`
	l.await(t, from, strings.Join(append([]string{quoted}, attrs...), " "), func(line string) bool {
		if !strings.Contains(line, quoted) {
			return false
		}
		fields := strings.Fields(line)
		for _, a := range attrs {
			if !slices.Contains(fields, a) {
				return false
			}
		}
		return true
	})
}

// retry calls f until it returns nil and fails the test, with f's last
// error, if that takes until deadline. It is for what a process does on its
// own schedule without logging it (another authd's cache, a consumer's
// poller); a success that returns after deadline does not count, so that a
// deadline can stand for a bound.
func retry(t *testing.T, what string, deadline time.Time, f func() error) {
	t.Helper()
	for {
		err := f()
		if !time.Now().Before(deadline) {
			if err == nil {
				err = errors.New("it did, but only after the deadline")
			}
			t.Fatalf("%s: %v", what, err)
		}
		if err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	t.Parallel()
	data := t.TempDir()
	srv := startProcess(t, data, nil)
	if out, errOut, code := authd(t, data, "correct horse\n", "user", "add", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d: %s%s", code, out, errOut)
	}
	conn := dial(t, srv.addr)
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

	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.log.awaitEnd(t)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("authd did not exit cleanly on SIGTERM: %v", err)
	}
}

func TestE2E_DuplicateUserAddLeavesUserUntouched(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, errOut, code := authd(t, data, "first password\n", "user", "add", "--password-stdin", "bob"); code != 0 {
		t.Fatalf("first add: exit %d: %s", code, errOut)
	}
	_, errOut, code := authd(t, data, "second password\n", "user", "add", "--password-stdin", "bob")
	if code == 0 || !strings.Contains(errOut, `user "bob" already exists`) {
		t.Fatalf("duplicate add: exit %d, stderr %q", code, errOut)
	}
	client := authv1.NewAuthServiceClient(dial(t, startServe(t, data, nil).addr))
	if _, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "bob", Password: "first password"}); err != nil {
		t.Fatalf("original password no longer works: %v", err)
	}
}

func TestE2E_UserLifecycle(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "pw-one-long\n", "user", "add", "carol", "--password-stdin")
	client := authv1.NewAuthServiceClient(dial(t, startServe(t, data, nil).addr))
	ctx := context.Background()
	login, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-one-long"})
	if err != nil {
		t.Fatal(err)
	}

	if out, errOut, code := authd(t, data, "", "user", "disable", "carol"); code != 0 || !strings.Contains(out, "1 session(s) revoked") {
		t.Fatalf("disable: exit %d: %s%s", code, out, errOut)
	}
	if _, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-one-long"}); status.Code(err) != codes.Unauthenticated {
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
	authd(t, data, "pw-two-long\n", "user", "passwd", "carol", "--password-stdin")
	again, err := client.Login(ctx, &authv1.LoginRequest{Username: "carol", Password: "pw-two-long"})
	if err != nil {
		t.Fatalf("login with new password: %v", err)
	}
	// Logout with the refresh token ends the session.
	bearer := tokens.Bearer(ctx, again.RefreshToken)
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
	t.Parallel()
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
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "long enough pw\n", "user", "add", "dave", "--password-stdin")
	srv := startServe(t, data, []string{"AUTHD_ACCESS_TTL=1m", "AUTHD_ISSUER=from-env"}, "--issuer", "from-flag")
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "dave", Password: "long enough pw"})
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
	t.Parallel()
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "authd.conf")
	os.WriteFile(conf, []byte("# authd settings\naccess-ttl = 2m\nissuer = \"from file\"\naudience = from-file\n\nrefresh-ttl=1h\n"), 0o600)
	// One file serves `user add` too: it skips the serve-only settings.
	if _, errOut, code := authd(t, data, "long enough pw\n", "user", "add", "gina", "--password-stdin", "--config", conf); code != 0 {
		t.Fatalf("user add with a config file: %d %s", code, errOut)
	}
	srv := startServe(t, data, []string{"AUTHD_CONFIG=" + conf, "AUTHD_AUDIENCE=from-env"}, "--access-ttl", "3m")
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	login, err := client.Login(context.Background(), &authv1.LoginRequest{Username: "gina", Password: "long enough pw"})
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
	t.Parallel()
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
	t.Parallel()
	// The grpcurl pinned in tools/go.mod, from the build cache (go tool
	// caches what it builds; -n names the executable instead of running it).
	tool := exec.Command("go", "tool", "-n", "-modfile=tools/go.mod", "grpcurl")
	tool.Dir = "../.."
	var stderr bytes.Buffer
	tool.Stderr = &stderr
	path, err := tool.Output()
	if err != nil {
		t.Fatalf("go tool grpcurl: %v\n%s", err, &stderr)
	}
	grpcurl := strings.TrimSpace(string(path))
	data := t.TempDir()
	addr := startServe(t, data, nil).addr
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
