// Command loadtest is `make load`: it starts authd (SQLite, and PostgreSQL
// when AUTHD_TEST_POSTGRES is set) and the example greeter on loopback, runs
// ghz (pinned in tools/ghz/go.mod) against Login, Refresh with rotation off,
// Verify and a protected greeter call, and its own driver against Refresh
// with rotation on (each refresh token spent once, which ghz cannot send),
// and prints rps, latency percentiles and the server's CPU per request as a
// ratio to an unauthenticated call of the same group and client.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
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
	flag.StringVar(&profileDir, "profile", "", "write authd's CPU profiles of a Refresh-with-rotation load and of the no-op to this directory (`go tool pprof -top FILE` reads them)")
	flag.Parse()
	if err := run(*scale); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// loadCPUs is the CPUs this process may run on, as Linux lists them.
func loadCPUs() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// profileDir is -profile: empty, no profiles.
var profileDir string

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
	backends := []backend{{"SQLite", ""}}
	if dsn := os.Getenv("AUTHD_TEST_POSTGRES"); dsn != "" {
		schemaDSN, drop, err := pgschema.Create(dsn, "authd_load")
		if err != nil {
			return err
		}
		defer drop()
		backends = append(backends, backend{"PostgreSQL", schemaDSN})
	}
	where := "any CPU"
	if serverCPU != "" {
		where = "CPU " + serverCPU
	}
	fmt.Printf("servers on %s, load on CPUs %s\n\n", where, loadCPUs())
	fmt.Println("| backend | call | requests | rps | p50 | p99 | server CPU/req | × unauthenticated |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, b := range backends {
		if err := runBackend(dir, b, scale); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

// backend is a store authd runs on: db is its --db, empty for SQLite.
type backend struct{ name, db string }

func runBackend(dir string, b backend, scale float64) error {
	env := append(os.Environ(), "AUTHD_DATA_DIR="+filepath.Join(dir, "data-"+b.name), "AUTHD_DB="+b.db)
	if b.db != "" {
		// Keys kept in a shared database are sealed with this secret.
		secret := make([]byte, 32)
		rand.Read(secret)
		env = append(env, "AUTHD_KEY_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(secret))
	}
	add := exec.Command(filepath.Join(dir, "authd"), "user", "add", "load", "--password-stdin")
	add.Env, add.Stdin = env, strings.NewReader(password+"\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v\n%s", err, out)
	}
	n := func(k int) int { return max(int(float64(k)*scale), 10) }
	if err := runGhz(dir, env, b.name, n); err != nil {
		return err
	}
	return runRotation(dir, env, b.name, n)
}

// runGhz measures, with ghz, authd with rotation off (ghz repeats one
// refresh token, which rotation would rightly treat as reuse after the
// grace window) and the greeter in front of it.
func runGhz(dir string, env []string, name string, n func(int) int) error {
	authd, err := start(env, authdReady, filepath.Join(dir, "authd"), "serve", "--addr", "127.0.0.1:0", "--refresh-rotation=false")
	if err != nil {
		return err
	}
	defer authd.stop()
	greeter, err := start(os.Environ(), regexp.MustCompile(`greeter serving.* addr=(\S+)`),
		filepath.Join(dir, "greeter"), "--addr", "127.0.0.1:0", "--authd", authd.addr)
	if err != nil {
		return err
	}
	defer greeter.stop()

	conn, err := grpc.NewClient(authd.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	login, err := authv1.NewAuthServiceClient(conn).Login(context.Background(), &authv1.LoginRequest{Username: "load", Password: password})
	if err != nil {
		return authd.failed(err)
	}
	bearer := func(tok string) string { return fmt.Sprintf(`{"authorization":"Bearer %s"}`, tok) }
	groups := []struct {
		server *server
		calls  []call
	}{
		{authd, []call{
			{name: "GetJWKS (public)", method: "auth.v1.AuthService/GetJWKS", data: `{}`, n: n(5000)},
			// 4 at once: more logins of one account from one address in
			// flight at once would be throttled.
			{name: "Login (argon2id)", method: "auth.v1.AuthService/Login", data: fmt.Sprintf(`{"username":"load","password":%q}`, password), n: n(200), c: 4},
			{name: "Refresh (--refresh-rotation=false: one token, repeated)", method: "auth.v1.AuthService/Refresh", data: `{}`, md: bearer(login.RefreshToken), n: n(5000)},
			{name: "Verify", method: "auth.v1.AuthService/Verify", data: fmt.Sprintf(`{"token":%q}`, login.AccessToken), n: n(5000)},
		}},
		{greeter, []call{
			{name: "greeter Hello (public)", method: "example.v1.GreeterService/Hello", data: `{}`, n: n(5000)},
			{name: "greeter WhoAmI (ACCESS)", method: "example.v1.GreeterService/WhoAmI", data: `{}`, md: bearer(login.AccessToken), n: n(5000)},
		}},
	}
	for _, g := range groups {
		var baseline float64
		for i, c := range g.calls {
			before := g.server.cpu()
			m, err := c.run(g.server.addr)
			if err != nil {
				return g.server.failed(err)
			}
			perReq := (g.server.cpu() - before).Seconds() / float64(m.count)
			if i == 0 {
				baseline = perReq
			}
			row(name, c.name, m, perReq, baseline)
		}
	}
	return nil
}

// runRotation measures Refresh as every client of a default authd sends
// it, rotation on and each refresh token spent once, next to a no-op call
// sent by the same driver the same way.
func runRotation(dir string, env []string, name string, n func(int) int) error {
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if profileDir != "" {
		args = append(args, "--metrics-addr", "127.0.0.1:0", "--pprof")
	}
	authd, err := start(env, authdReady, filepath.Join(dir, "authd"), args...)
	if err != nil {
		return err
	}
	defer authd.stop()
	d, err := newDriver(authd.addr)
	if err != nil {
		return err
	}
	defer d.close()
	pool, err := newRefreshPool(d, 2*d.concurrency, "load", password)
	if err != nil {
		return authd.failed(err)
	}
	calls := []struct {
		name string
		send func(context.Context, *grpc.ClientConn) error
	}{
		{"Health Check (no-op, own driver)", healthCheck},
		{"Refresh (rotation: each token once, own driver)", pool.refresh},
	}
	var baseline float64
	for i, c := range calls {
		before := authd.cpu()
		m, err := d.run(n(5000), c.send)
		if err != nil {
			return authd.failed(fmt.Errorf("%s: %w", c.name, err))
		}
		perReq := (authd.cpu() - before).Seconds() / float64(m.count)
		if i == 0 {
			baseline = perReq
		}
		row(name, c.name, m, perReq, baseline)
	}
	if profileDir == "" {
		return nil
	}
	for _, c := range calls {
		file := filepath.Join(profileDir, fmt.Sprintf("%s-%s.pprof", strings.ToLower(name), strings.Fields(c.name)[0]))
		if err := profile(authd, file, func(stop context.Context) error {
			_, err := d.runUntil(stop, 1<<20, c.send) // more than profileSeconds holds
			return err
		}); err != nil {
			return authd.failed(fmt.Errorf("profile %s: %w", c.name, err))
		}
		fmt.Fprintf(os.Stderr, "load: %s: authd's CPU profile of %s in %s\n", name, c.name, file)
	}
	return nil
}

// profileSeconds is how long a profile samples: 100 samples a second.
const profileSeconds = 5

// profile writes to file authd's CPU profile of profileSeconds of load:
// load runs until the profile is taken.
func profile(authd *server, file string, load func(stop context.Context) error) error {
	metrics := authd.ready[2]
	if metrics == "" {
		return errors.New("authd serves no metrics address")
	}
	stop, cancel := context.WithCancel(context.Background())
	loaded := make(chan error, 1)
	go func() { loaded <- load(stop) }()
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", metrics, profileSeconds))
	cancel()
	if lerr := <-loaded; lerr != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return lerr
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var authdReady = regexp.MustCompile(`msg="authd serving" addr=(\S+) http_addr=\S* metrics_addr=(\S*)`)

// password is the load user's.
const password = "load-test-password"

// row prints one row of the table. The kernel counts CPU time in 10 ms
// ticks: a baseline too short to be charged one has no ratio.
func row(backend, call string, m measured, perReq, baseline float64) {
	ratio := "—"
	if baseline > 0 {
		ratio = fmt.Sprintf("%.2f", perReq/baseline)
	}
	fmt.Printf("| %s | %s | %d | %.0f | %s | %s | %s | %s |\n", backend, call, m.count, m.rps,
		ms(m.p50), ms(m.p99), us(perReq), ratio)
}

// measured is one row's load: how many calls, at what rate, how fast.
type measured struct {
	count    int
	rps      float64
	p50, p99 time.Duration
}

// call is a row sent by ghz: n calls, 8 at once (c when set) over 2
// connections, every one with the same data and metadata.
type call struct {
	name, method, data, md string
	n, c                   int
}

// ghzResult is the part of ghz's JSON report read here.
type ghzResult struct {
	Count        int     `json:"count"`
	Rps          float64 `json:"rps"`
	LatencyDistr []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"`
	} `json:"latencyDistribution"`
	StatusCodeDistribution map[string]int `json:"statusCodeDistribution"`
}

func (r ghzResult) percentile(p int) time.Duration {
	for _, l := range r.LatencyDistr {
		if l.Percentage == p {
			return time.Duration(l.Latency)
		}
	}
	return 0
}

func (c call) run(addr string) (measured, error) {
	concurrency := 8
	if c.c > 0 {
		concurrency = c.c
	}
	args := []string{"tool", "-modfile=tools/ghz/go.mod", "ghz", "--insecure", "--call", c.method, "-d", c.data,
		"-n", strconv.Itoa(c.n), "-c", strconv.Itoa(concurrency), "--connections", "2", "--format", "json"}
	if c.md != "" {
		args = append(args, "-m", c.md)
	}
	out, err := exec.Command("go", append(args, addr)...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return measured{}, fmt.Errorf("ghz %s: %v\n%s", c.method, err, exit.Stderr)
		}
		return measured{}, fmt.Errorf("ghz %s: %v", c.method, err)
	}
	var r ghzResult
	if err := json.Unmarshal(out, &r); err != nil {
		return measured{}, fmt.Errorf("ghz %s output: %v", c.method, err)
	}
	if ok := r.StatusCodeDistribution["OK"]; ok != r.Count {
		return measured{}, fmt.Errorf("%s: only %d of %d calls OK: %v", c.method, ok, r.Count, r.StatusCodeDistribution)
	}
	return measured{count: r.Count, rps: r.Rps, p50: r.percentile(50), p99: r.percentile(99)}, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func us(s float64) string       { return fmt.Sprintf("%.0f µs", s*1e6) }
