// Command loadtest is `make load`: it starts authd (SQLite, and PostgreSQL
// when AUTHD_TEST_POSTGRES is set) and the example greeter on loopback, runs
// ghz (pinned in tools/ghz/go.mod) against Login, Refresh, Verify and a
// protected greeter call, and prints rps, latency percentiles and the
// server's CPU per request as a ratio to an unauthenticated call.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/pgschema"
)

func main() {
	scale := flag.Float64("scale", 1, "multiply every request count by this")
	flag.Parse()
	if err := run(*scale); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(scale float64) error {
	dir, err := os.MkdirTemp("", "authd-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, pkg := range []string{"./cmd/authd", "./examples/greeter/cmd/greeter"} {
		if out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	backends := []struct{ name, db string }{{"SQLite", ""}}
	if dsn := os.Getenv("AUTHD_TEST_POSTGRES"); dsn != "" {
		schemaDSN, drop, err := pgschema.Create(dsn, "authd_load")
		if err != nil {
			return err
		}
		defer drop()
		backends = append(backends, struct{ name, db string }{"PostgreSQL", schemaDSN})
	}
	fmt.Println("| backend | call | requests | rps | p50 | p99 | server CPU/req | × unauthenticated |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		if err := runBackend(dir, b.name, b.db, scale); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

func runBackend(dir, name, db string, scale float64) error {
	data := filepath.Join(dir, "data-"+name)
	env := append(os.Environ(), "AUTHD_DATA_DIR="+data, "AUTHD_DB="+db)
	add := exec.Command(filepath.Join(dir, "authd"), "user", "add", "load", "--password-stdin")
	add.Env, add.Stdin = env, strings.NewReader("load-test-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v\n%s", err, out)
	}
	// Rotation off: ghz repeats one refresh token, which rotation would
	// (rightly) treat as reuse after the grace window.
	authd, authdAddr, err := start(env, regexp.MustCompile(`msg="authd serving" addr=(\S+)`),
		filepath.Join(dir, "authd"), "serve", "--addr", "127.0.0.1:0", "--refresh-rotation=false")
	if err != nil {
		return err
	}
	defer stop(authd)
	greeter, greeterAddr, err := start(os.Environ(), regexp.MustCompile(`greeter serving.* addr=(\S+)`),
		filepath.Join(dir, "greeter"), "--addr", "127.0.0.1:0", "--authd", authdAddr)
	if err != nil {
		return err
	}
	defer stop(greeter)

	conn, err := grpc.NewClient(authdAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	login, err := authv1.NewAuthServiceClient(conn).Login(context.Background(), &authv1.LoginRequest{Username: "load", Password: "load-test-password"})
	if err != nil {
		return err
	}
	bearer := func(tok string) string { return fmt.Sprintf(`{"authorization":"Bearer %s"}`, tok) }
	n := func(k int) int { return max(int(float64(k)*scale), 10) }
	groups := []struct {
		server *exec.Cmd
		calls  []call
	}{
		{authd, []call{
			{name: "GetJWKS (public)", addr: authdAddr, method: "auth.v1.AuthService/GetJWKS", data: `{}`, n: n(5000)},
			{name: "Login (argon2id)", addr: authdAddr, method: "auth.v1.AuthService/Login", data: `{"username":"load","password":"load-test-password"}`, n: n(200)},
			{name: "Refresh", addr: authdAddr, method: "auth.v1.AuthService/Refresh", data: `{}`, md: bearer(login.RefreshToken), n: n(5000)},
			{name: "Verify", addr: authdAddr, method: "auth.v1.AuthService/Verify", data: fmt.Sprintf(`{"token":%q}`, login.AccessToken), n: n(5000)},
		}},
		{greeter, []call{
			{name: "greeter Hello (public)", addr: greeterAddr, method: "example.v1.GreeterService/Hello", data: `{}`, n: n(5000)},
			{name: "greeter WhoAmI (ACCESS)", addr: greeterAddr, method: "example.v1.GreeterService/WhoAmI", data: `{}`, md: bearer(login.AccessToken), n: n(5000)},
		}},
	}
	for _, g := range groups {
		var baseline float64
		for i, c := range g.calls {
			before := cpu(g.server.Process.Pid)
			r, err := c.run()
			if err != nil {
				return err
			}
			perReq := (cpu(g.server.Process.Pid) - before).Seconds() / float64(r.Count)
			if i == 0 {
				baseline = perReq
			}
			fmt.Printf("| %s | %s | %d | %.0f | %s | %s | %s | %.2f |\n", name, c.name, r.Count, r.Rps,
				ms(r.percentile(50)), ms(r.percentile(99)), us(perReq), perReq/baseline)
		}
	}
	return nil
}

type call struct {
	name, addr, method, data, md string
	n                            int
}

type result struct {
	Count        int     `json:"count"`
	Rps          float64 `json:"rps"`
	LatencyDistr []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"`
	} `json:"latencyDistribution"`
	StatusCodeDistribution map[string]int `json:"statusCodeDistribution"`
}

func (r result) percentile(p int) time.Duration {
	for _, l := range r.LatencyDistr {
		if l.Percentage == p {
			return time.Duration(l.Latency)
		}
	}
	return 0
}

func (c call) run() (result, error) {
	args := []string{"tool", "-modfile=tools/ghz/go.mod", "ghz", "--insecure", "--call", c.method, "-d", c.data,
		"-n", strconv.Itoa(c.n), "-c", "8", "--connections", "2", "--format", "json"}
	if c.md != "" {
		args = append(args, "-m", c.md)
	}
	out, err := exec.Command("go", append(args, c.addr)...).Output()
	if err != nil {
		return result{}, fmt.Errorf("ghz %s: %v", c.method, err)
	}
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("ghz %s output: %v", c.method, err)
	}
	if ok := r.StatusCodeDistribution["OK"]; ok != r.Count {
		return result{}, fmt.Errorf("%s: only %d of %d calls OK: %v", c.method, ok, r.Count, r.StatusCodeDistribution)
	}
	return r, nil
}

// start runs a server and waits for the log line that gives its address.
func start(env []string, ready *regexp.Regexp, bin string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if m := ready.FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1], nil
		}
	}
	cmd.Wait()
	return nil, "", fmt.Errorf("%s exited before serving", filepath.Base(bin))
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// cpu is the process's user+system CPU time so far (Linux /proc).
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func us(s float64) string       { return fmt.Sprintf("%.0f µs", s*1e6) }
