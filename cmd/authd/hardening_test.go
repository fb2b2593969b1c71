package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/wire"
)

var metricsAddrText = regexp.MustCompile(`metrics_addr=(\S+)`)

// With a TLS certificate the HTTP listeners serve HTTPS too (README points
// JWKS consumers at https://); --http-plaintext opts out; --metrics-addr
// moves /metrics to a listener of its own, and --pprof adds profiles there
// only.
func TestE2E_HTTPListenersServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newCA(t, "http")
	c, k := ca.issue(t, false)
	writeFile(t, certFile, c)
	writeFile(t, keyFile, k)
	get := func(client *http.Client, url string) (int, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}}}

	srv := startServe(t, t.TempDir(), nil, "--tls-cert", certFile, "--tls-key", keyFile,
		"--http-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	m := metricsAddrText.FindStringSubmatch(srv.log.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the serving line:\n%s", srv.log)
	}
	metrics := strings.Trim(m[1], `"`)
	for url, want := range map[string]int{
		"https://" + srv.httpAddr + "/.well-known/jwks.json": http.StatusOK,
		"https://" + srv.httpAddr + "/healthz":               http.StatusOK,
		"https://" + srv.httpAddr + "/metrics":               http.StatusNotFound, // moved
		"https://" + metrics + "/metrics":                    http.StatusOK,
		"https://" + metrics + "/debug/pprof/":               http.StatusNotFound, // without --pprof
		"https://" + srv.httpAddr + "/debug/pprof/":          http.StatusNotFound,
	} {
		if code, err := get(https, url); err != nil || code != want {
			t.Errorf("GET %s = %d, %v; want %d", url, code, err, want)
		}
	}
	if code, err := get(http.DefaultClient, "http://"+srv.httpAddr+"/.well-known/jwks.json"); err == nil && code == http.StatusOK {
		t.Error("the JWKS is served in plaintext although authd has a certificate")
	}

	plain := startServe(t, t.TempDir(), nil, "--tls-cert", certFile, "--tls-key", keyFile,
		"--http-addr", "127.0.0.1:0", "--http-plaintext", "--metrics-addr", "127.0.0.1:0", "--pprof")
	m = metricsAddrText.FindStringSubmatch(plain.log.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the serving line:\n%s", plain.log)
	}
	metrics = strings.Trim(m[1], `"`)
	for url, want := range map[string]int{
		"http://" + metrics + "/metrics":                      http.StatusOK,
		"http://" + metrics + "/debug/pprof/heap":             http.StatusOK, // --pprof
		"http://" + plain.httpAddr + "/debug/pprof/heap":      http.StatusNotFound,
		"http://" + plain.httpAddr + "/.well-known/jwks.json": http.StatusOK,
	} {
		if code, err := get(http.DefaultClient, url); err != nil || code != want {
			t.Errorf("--http-plaintext --pprof: GET %s = %d, %v; want %d", url, code, err, want)
		}
	}
}

// `authd keys revoke` of the current key: after the reload every token it
// signed is refused, including one authd had just verified and cached, and
// logins are signed with the replacement.
func TestE2E_KeysRevokeRefusesEvenCachedTokens(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	authd(t, data, "long enough pw\n", "user", "add", "ines", "--password-stdin")
	srv := startProcess(t, data, nil)
	client := authv1.NewAuthServiceClient(dial(t, srv.addr))
	ctx := context.Background()
	login, err := client.Login(ctx, &authv1.LoginRequest{Username: "ines", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second answer comes from the verified-token cache
		if _, err := client.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken}); err != nil {
			t.Fatal(err)
		}
	}
	compromised := tokens.KeyID(t, login.AccessToken)
	out, errOut, code := authd(t, data, "", "keys", "revoke", compromised)
	if code != 0 {
		t.Fatalf("keys revoke: %s", errOut)
	}
	replacement := regexp.MustCompile(`new signing key (\S+) is current`).FindStringSubmatch(out)
	if replacement == nil || !strings.Contains(out, "signing key "+compromised+" revoked") {
		t.Fatalf("keys revoke said:\n%s", out)
	}
	mark := srv.log.mark()
	srv.cmd.Process.Signal(syscall.SIGHUP)
	srv.log.awaitMsg(t, mark, "signing keys reloaded", "current_kid="+replacement[1])
	_, err = client.Verify(ctx, &authv1.VerifyRequest{Token: login.AccessToken})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	_, err = client.Refresh(tokens.Bearer(ctx, login.RefreshToken), &authv1.RefreshRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenInvalid)
	again, err := client.Login(ctx, &authv1.LoginRequest{Username: "ines", Password: "long enough pw"})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tokens.KeyID(t, again.AccessToken); kid != replacement[1] {
		t.Fatalf("a new login is signed with %s, want %s", kid, replacement[1])
	}
	if _, errOut, code := authd(t, data, "", "keys", "revoke", "no-such-kid"); code == 0 || !strings.Contains(errOut, "no such signing key") {
		t.Fatalf("revoking an unknown kid: exit %d, %s", code, errOut)
	}
}

// The new flags refuse bad values with a usage error.
func TestE2E_HardeningFlagsRefuseBadValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--trusted-proxies", "10.0.0.0/8,not-an-address"},
		{"serve", "--sqlite-synchronous", "sometimes"},
		{"serve", "--max-connections", "-1"},
		{"serve", "--max-connections", "10", "--max-connections-per-address", "20"},
		{"serve", "--handshake-timeout", "-1s"},
	} {
		if _, errOut, code := authd(t, t.TempDir(), "", args...); code != 2 {
			t.Errorf("authd %v: exit %d, %s; want 2", args, code, errOut)
		}
	}
}

// The HTTP listener bounds request headers (16 KiB): a larger one is
// refused before any handler runs.
func TestE2E_HTTPHeaderBound(t *testing.T) {
	t.Parallel()
	srv := startServe(t, t.TempDir(), nil, "--http-addr", "127.0.0.1:0")
	req, err := http.NewRequest(http.MethodGet, "http://"+srv.httpAddr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 64 KiB header: %d, want 431", resp.StatusCode)
	}
}

// A start that fails on its HS256 secret file leaves no data dir behind:
// the file is read before the database is opened.
func TestE2E_BadSecretFileStartLeavesNothing(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	short := filepath.Join(t.TempDir(), "short")
	writeFile(t, short, []byte("too short"))
	for _, file := range []string{short, filepath.Join(t.TempDir(), "missing")} {
		if _, errOut, code := authd(t, data, "", "serve", "--addr", "127.0.0.1:0", "--hs256-secret-file", file); code == 0 {
			t.Fatalf("serve with %s started: %s", file, errOut)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			entries, _ := os.ReadDir(data)
			t.Fatalf("the failed start left %s with %v (%v)", data, entries, err)
		}
	}
}

// --pprof serves Go's profiles but never the command line, which may hold
// a secret (a database password in --db): /debug/pprof/cmdline is 404 and
// says nothing of argv.
func TestE2E_PprofDoesNotShowTheCommandLine(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	db := "sqlite:" + filepath.Join(data, "hunter2-secret.db")
	srv := startProcess(t, data, nil, "--db", db, "--metrics-addr", "127.0.0.1:0", "--pprof")
	m := metricsAddrText.FindStringSubmatch(srv.log.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the serving line:\n%s", srv.log)
	}
	metrics := strings.Trim(m[1], `"`)
	for path, want := range map[string]int{"/debug/pprof/cmdline": http.StatusNotFound, "/debug/pprof/heap": http.StatusOK} {
		resp, err := http.Get("http://" + metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if strings.Contains(string(body), "hunter2") {
			t.Errorf("GET %s shows the command line: %q", path, body)
		}
	}
}
