package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/pgschema"
)

// records parses every line of a JSON log; a line that is not JSON fails
// the test (a library writing past slog would break log shippers).
func records(t *testing.T, log string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// find returns the records with every key = value in want.
func find(recs []map[string]any, want map[string]any) []map[string]any {
	var found []map[string]any
next:
	for _, rec := range recs {
		for k, v := range want {
			if rec[k] != v {
				continue next
			}
		}
		found = append(found, rec)
	}
	return found
}

// awaitRecord waits for a JSON line with every key = value in want.
func awaitRecord(t *testing.T, l *processLog, want map[string]any) {
	t.Helper()
	l.await(t, 0, "a log line with "+jsonString(want), func(line string) bool {
		var rec map[string]any
		return json.Unmarshal([]byte(line), &rec) == nil && len(find([]map[string]any{rec}, want)) == 1
	})
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The start line says which database, which migrations ran, and whether
// the signing key is new.
func TestE2E_StartLineNamesBackendMigrationsAndKey(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	first := serveJSON(t, data)
	start := find(records(t, first.log.String()), map[string]any{"msg": "authd serving"})
	if len(start) != 1 {
		t.Fatalf("want one start line:\n%s", first.log)
	}
	migrations, _ := start[0]["migrations"].(string)
	if start[0]["db"] != "sqlite:"+filepath.Join(data, "authd.db") || !strings.HasPrefix(migrations, "0001_") ||
		start[0]["signing_key"] != "created" || start[0]["kid"] == "" {
		t.Errorf("first start line %v; want db sqlite:%s, the migrations from 0001_ on, signing_key created", start[0], filepath.Join(data, "authd.db"))
	}
	first.terminate(t)
	first.log.awaitEnd(t)
	again := find(records(t, serveJSON(t, data).log.String()), map[string]any{"msg": "authd serving"})
	if len(again) != 1 || again[0]["migrations"] != "none" || again[0]["signing_key"] != "loaded" || again[0]["kid"] != start[0]["kid"] {
		t.Errorf("second start line %v; want migrations none, signing_key loaded, kid %v", again, start[0]["kid"])
	}

	if os.Getenv("AUTHD_TEST_POSTGRES") == "" {
		t.Skip("AUTHD_TEST_POSTGRES is not set: the PostgreSQL start line was not checked")
	}
	dsn, err := url.Parse(pgschema.ForTest(t, "authd_logs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, set := dsn.User.Password(); !set && dsn.User != nil {
		// A password the server ignores (trust) or checks: either way it
		// must not reach the log.
		dsn.User = url.UserPassword(dsn.User.Username(), "s3cret-in-dsn")
	}
	srv := startProcess(t, t.TempDir(), []string{"AUTHD_DB=" + dsn.String(), "AUTHD_KEY_ENCRYPTION_KEY=" + testKEK}, "--log-format", "json")
	pg := find(records(t, srv.log.String()), map[string]any{"msg": "authd serving"})
	if len(pg) != 1 || pg[0]["db"] != "postgres://"+dsn.Host+dsn.Path || pg[0]["signing_key"] != "created" {
		t.Errorf("PostgreSQL start line %v; want db postgres://%s%s and a created key", pg, dsn.Host, dsn.Path)
	}
	if strings.Contains(srv.log.String(), "s3cret-in-dsn") || (dsn.RawQuery != "" && strings.Contains(srv.log.String(), dsn.RawQuery)) {
		t.Errorf("the log holds the DSN's password or parameters:\n%s", srv.log)
	}
}

// Call lines: polls at DEBUG, refusals with their reason, failed logins
// with the username (never the password), durations as numbers.
func TestE2E_CallLogsForOperators(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const pw, wrongPW = "grace's password", "not grace's password"
	authd(t, data, pw+"\n", "user", "add", "grace", "--password-stdin")
	for _, level := range []string{"info", "debug"} {
		srv := serveJSON(t, data, "--log-level", level)
		conn := dial(t, srv.addr)
		client := authv1.NewAuthServiceClient(conn)
		ctx := context.Background()
		if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.ListRevocations(ctx, &authv1.ListRevocationsRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CheckSession(ctx, &authv1.CheckSessionRequest{Sid: "AAAAAAAAAAAAAAAAAAAAAA"}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Refresh(ctx, &authv1.RefreshRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("Refresh without a token: %v", err)
		}
		if _, err := client.Login(ctx, &authv1.LoginRequest{Username: "grace", Password: wrongPW}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("Login with a wrong password: %v", err)
		}
		// The failed Login's call line is the last: every line before it
		// has been written.
		awaitRecord(t, srv.log, map[string]any{"msg": "finished call", "grpc.method": "Login"})
		recs := records(t, srv.log.String())

		polls := 0
		for _, method := range []string{"Check", "ListRevocations", "CheckSession"} {
			lines := find(recs, map[string]any{"msg": "finished call", "grpc.method": method})
			polls += len(lines)
			for _, rec := range lines {
				if rec["level"] != "DEBUG" {
					t.Errorf("%s's call line at %v; want DEBUG", method, rec["level"])
				}
			}
		}
		if want := map[string]int{"info": 0, "debug": 3}[level]; polls != want {
			t.Errorf("--log-level %s: %d poll line(s); want %d", level, polls, want)
		}
		refused := find(recs, map[string]any{"msg": "finished call", "grpc.method": "Refresh"})
		if len(refused) != 1 || refused[0]["reason"] != "TOKEN_MISSING" {
			t.Errorf("Refresh's call line %v; want reason TOKEN_MISSING", refused)
		}
		login := find(recs, map[string]any{"msg": "finished call", "grpc.method": "Login"})
		if len(login) != 1 || login[0]["reason"] != "INVALID_CREDENTIALS" {
			t.Errorf("Login's call line %v; want reason INVALID_CREDENTIALS", login)
		}
		if failed := find(recs, map[string]any{"msg": "login failed", "user": "grace"}); len(failed) != 1 {
			t.Errorf("want one \"login failed\" line naming grace:\n%s", srv.log)
		}
		for _, rec := range find(recs, map[string]any{"msg": "finished call"}) {
			if _, isNumber := rec["grpc.time_ms"].(float64); !isNumber {
				t.Errorf("grpc.time_ms = %#v in %v; want a JSON number", rec["grpc.time_ms"], rec)
			}
		}
		if strings.Contains(srv.log.String(), wrongPW) || strings.Contains(srv.log.String(), pw) {
			t.Errorf("the log holds the password:\n%s", srv.log)
		}
	}
}

// go-redis's own messages come through authd's logger: a failed start on
// a Redis that does not answer logs JSON only, then the one error line, and
// leaves neither a database nor a signing key.
func TestE2E_RedisLogsThroughSlogAndAFailedStartLeavesNothing(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	_, errOut, code := authd(t, data, "", "serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--redis", "redis://127.0.0.1:1/0")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 1 || len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "authd: --redis redis://127.0.0.1:1/0: ") {
		t.Fatalf("serve with an unreachable Redis: exit %d, stderr:\n%s\nwant go-redis's lines, then the error, exit 1", code, errOut)
	}
	for _, rec := range records(t, strings.Join(lines[:len(lines)-1], "\n")) {
		if rec["component"] != "redis" || rec["level"] != "WARN" {
			t.Errorf("go-redis line %v; want component redis at WARN", rec)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(data)
		t.Errorf("the failed start left %s with %v (%v); want nothing", data, entries, err)
	}
}

// The example greeter logs as authd does, in text or JSON.
func TestE2E_GreeterLogsLikeAuthd(t *testing.T) {
	t.Parallel()
	srv := startServe(t, t.TempDir(), nil)
	cmd := exec.Command(greeterBin, "--addr", "127.0.0.1:0", "--authd", srv.addr, "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	awaitRecord(t, readLog(stderr), map[string]any{"msg": "greeter serving", "level": "INFO"})
}
