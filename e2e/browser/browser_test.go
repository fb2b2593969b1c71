package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/wire"
)

// Each bounds a wait: for the builds (go build of authd and the notes
// service, cold on a loaded machine), and for the processes to start and
// the browser to go through its steps. They only turn a hang into a
// failure.
const (
	buildPatience = 5 * time.Minute
	patience      = 2 * time.Minute
)

// accessTTL is authd's --access-ttl here: the access cookie's Max-Age.
const accessTTL = 15 * time.Minute

const user, password = "alice", "correct horse battery staple"

func TestBrowser_CookieSession(t *testing.T) {
	chromium, node := need(t)
	dir := t.TempDir()
	authdBin, notesBin, webDir := build(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	// The page's origin must be known before authd starts (its
	// --cors-origins), and the page's server needs authd's address: take a
	// free port for the page first.
	pagePort := freePort(t)
	page := "http://127.0.0.1:" + pagePort
	grpcAddr, httpAddr := startAuthd(ctx, t, authdBin, filepath.Join(dir, "data"), page)
	authd := "http://" + httpAddr
	start(ctx, t, "notes", "notes serving", notesBin,
		"--addr", "127.0.0.1:"+pagePort, "--authd", grpcAddr, "--authd-http", authd, "--web", webDir)
	targets := []string{authd + "/auth.v1.AuthService/Logout", authd + "/auth.v1.AuthService/Refresh", page + "/notes.v1.NoteService/AddNote"}
	// Another site (localhost is not 127.0.0.1's site), and the same site
	// on another port (cookies are per host, not per port).
	crossSite := serveOtherOrigin(t, "localhost", targets)
	sameSite := serveOtherOrigin(t, "127.0.0.1", targets)

	r := drive(ctx, t, node, map[string]string{
		"chromium": chromium, "page": page, "authd": authd,
		"crossSite": crossSite, "sameSite": sameSite, "user": user, "password": password,
	})

	t.Run("flow", func(t *testing.T) { checkFlow(t, r) })
	t.Run("tokens hidden from scripts", func(t *testing.T) { checkTokensHidden(t, r, authd) })
	t.Run("other origins", func(t *testing.T) { checkOtherOrigins(t, r, targets, crossSite, sameSite) })
	t.Run("preflight", func(t *testing.T) { checkPreflight(t, authd, page, crossSite, sameSite) })
}

// need returns Chromium's and node's paths, or skips the test when either,
// or the npm packages it runs, are not installed.
func need(t *testing.T) (chromium, node string) {
	t.Helper()
	skip := func(why string) {
		fmt.Println("SKIPPED: " + why + ", so the browser test (e2e/browser) did not run")
		t.Skip(why)
	}
	chromium = os.Getenv("AUTHD_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		skip("Chromium is not installed at " + chromium + " (apt-get install chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed")
	}
	for _, pkg := range []string{"node_modules/playwright-core/package.json", "../../examples/web/node_modules/esbuild/package.json"} {
		if _, err := os.Stat(pkg); err != nil {
			skip("the npm packages of e2e/browser and examples/web are not installed (make test-deps)")
		}
	}
	return chromium, node
}

// build links authd and the notes service, and bundles the page, into dir.
func build(t *testing.T, dir string) (authdBin, notesBin, webDir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildPatience)
	defer cancel()
	authdBin, notesBin, webDir = filepath.Join(dir, "authd"), filepath.Join(dir, "notes"), filepath.Join(dir, "web")
	steps := []*exec.Cmd{
		exec.CommandContext(ctx, "go", "build", "-o", authdBin, "./cmd/authd"),
		exec.CommandContext(ctx, "go", "build", "-o", notesBin, "."),
		exec.CommandContext(ctx, "node", "build.mjs", webDir),
	}
	steps[0].Dir, steps[1].Dir, steps[2].Dir = "../..", "../../examples/connect", "../../examples/web"
	var wg sync.WaitGroup
	errs := make([]error, len(steps))
	for i, cmd := range steps {
		wg.Go(func() {
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s (in %s): %v\n%s", strings.Join(cmd.Args, " "), cmd.Dir, err, out)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return authdBin, notesBin, webDir
}

func freePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return port
}

// startAuthd creates the user and serves authd, with the page's origin
// allowed (and flags, if any), on free loopback ports; it returns the gRPC
// and HTTP addresses.
func startAuthd(ctx context.Context, t *testing.T, bin, dataDir, pageOrigin string, flags ...string) (grpcAddr, httpAddr string) {
	t.Helper()
	add := exec.CommandContext(ctx, bin, "user", "add", user, "--password-stdin", "--data-dir", dataDir)
	add.Stdin = strings.NewReader(password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("authd user add: %v\n%s", err, out)
	}
	line := start(ctx, t, "authd", `msg="authd serving"`, bin, append([]string{"serve", "--data-dir", dataDir,
		"--addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--access-ttl", accessTTL.String(), "--cors-origins", pageOrigin}, flags...)...)
	m := regexp.MustCompile(` addr=(\S+) http_addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no addresses in authd's line %q", line)
	}
	return m[1], m[2]
}

// start runs bin until the test ends and returns the first line of its
// stderr that contains ready; what it logs is shown when the test fails.
func start(ctx context.Context, t *testing.T, name, ready, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged bytes.Buffer
	found := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			mu.Lock()
			fmt.Fprintln(&logged, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), ready) {
				select {
				case found <- sc.Text():
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("%s logged:\n%s", name, logged.String())
		}
	})
	select {
	case line := <-found:
		return line
	case <-done:
		t.Fatalf("%s ended before it was ready; it logged:\n%s", name, logged.String())
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%s not ready within %v; it logged:\n%s", name, patience, logged.String())
	}
	return ""
}

// formPage posts, as soon as it loads, a JSON body spelt as a text/plain
// form ({"text":"forged","x":"="}) to its target, as a page of another
// origin can make any visitor's browser do.
var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<title>another origin</title>
<form method="post" enctype="text/plain" action="{{.}}"><input type="hidden" name='{"text":"forged","x":"' value='"}'></form>
<script>document.forms[0].submit()</script>
`))

// serveOtherOrigin serves, on a loopback port named host, a blank page and
// at /form?target=URL the form that posts itself to one of targets.
func serveOtherOrigin(t *testing.T, host string, targets []string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("target")
		if !slices.Contains(targets, target) {
			http.Error(w, "unknown target", http.StatusBadRequest)
			return
		}
		_ = formPage.Execute(w, target)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<!doctype html><title>another origin</title>")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: patience}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	return "http://" + host + ":" + port
}

// run is what browser.mjs saw.
type run struct {
	Error   string
	Console []string
	Steps   []step
	Network []exchange
}

func (r *run) step(t *testing.T, name string) step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("browser.mjs took no step %q", name)
	return step{}
}

// step is one step of browser.mjs; each fills some of the fields.
type step struct {
	Name      string
	Ms        int // since the script began
	View      view
	Refused   view // logout: the call right after it
	Refreshed view // after-attacks
	Cookies   []cookie
	Before    []cookie
	JS        jsState
	Now       float64
	Results   []fetched // no-csrf-header
	Origin    string
	Fetches   struct {
		Results      []fetched
		Cookie       string
		CSRFReadable bool
	}
	Network []exchange
	// passkey.mjs: the virtual authenticator's credentials, the
	// assertions the page sent, the passkeys an administrator removed.
	Credentials, Assertions, Removed int
}

// view is what the honest page shows.
type view struct {
	Log       []string
	Status    string
	Owner     string
	Notes     []string
	LoggedIn  bool
	Verifying bool // the prompt for a code or a passkey is shown
}

// since is the lines logged after those of before.
func (v view) since(before view) []string { return v.Log[min(len(before.Log), len(v.Log)):] }

type cookie struct {
	Name, Value, Path, SameSite, Domain string
	HTTPOnly, Secure                    bool
	Expires                             float64
}

func cookieNamed(cookies []cookie, name string) (cookie, bool) {
	for _, c := range cookies {
		if c.Name == name {
			return c, true
		}
	}
	return cookie{}, false
}

// jsState is what the page's own scripts can read.
type jsState struct {
	Cookie                       string
	LocalStorage, SessionStorage int
	Seen                         []struct {
		URL     string
		Status  int
		Headers [][2]string
		Body    string
	}
}

// fetched is a fetch made by a page's script: its answer, or its error
// (a refused preflight is a TypeError).
type fetched struct {
	URL, Kind, Type, Body, Error string
	Status                       int
}

// exchange is a request as the network saw it, with Set-Cookie.
type exchange struct {
	Method, URL, Failed, SetCookie, Body string
	Status                               int
}

// drive runs browser.mjs with cfg and returns what it saw.
func drive(ctx context.Context, t *testing.T, node string, cfg map[string]string) *run {
	t.Helper()
	return driveScript(ctx, t, node, "browser.mjs", cfg)
}

// driveScript runs script (browser.mjs, passkey.mjs) with cfg and returns
// what it saw.
func driveScript(ctx context.Context, t *testing.T, node, script string, cfg map[string]string) *run {
	t.Helper()
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script, string(arg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s\n%s", script, err, stderr.String(), stdout.String())
	}
	t.Logf("%s ran in %v", script, time.Since(began).Round(time.Millisecond))
	var r run
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("%s printed no result: %v\n%s\n%s", script, err, stderr.String(), stdout.String())
	}
	if r.Error != "" {
		t.Fatalf("%s stopped: %s\nsteps: %+v\nconsole:\n%s", script, r.Error, r.Steps, strings.Join(r.Console, "\n"))
	}
	for _, line := range r.Console {
		if strings.HasPrefix(line, "pageerror:") {
			t.Errorf("the page threw: %s", line)
		}
	}
	return &r
}

// (a) Log in with cookies, call, outlive the access cookie by Refresh,
// log out.
func checkFlow(t *testing.T, r *run) {
	login := r.step(t, "login")
	if !login.View.LoggedIn || login.View.Owner != "Notes of alice: 1" || !slices.Equal(login.View.Notes, []string{"buy milk"}) {
		t.Errorf("after login and one note the page shows %+v", login.View)
	}
	want := map[string]cookie{
		wire.AccessCookie:  {Path: "/", SameSite: "Lax", HTTPOnly: true, Secure: true},
		wire.RefreshCookie: {Path: wire.RefreshCookiePath, SameSite: "Strict", HTTPOnly: true, Secure: true},
		wire.CSRFCookie:    {Path: "/", SameSite: "Strict", HTTPOnly: false, Secure: true},
	}
	for name, w := range want {
		c, ok := cookieNamed(login.Cookies, name)
		if !ok {
			t.Errorf("after login the browser has no cookie %s (it has %+v)", name, login.Cookies)
			continue
		}
		if c.Path != w.Path || c.SameSite != w.SameSite || c.HTTPOnly != w.HTTPOnly || c.Secure != w.Secure || c.Domain != "127.0.0.1" {
			t.Errorf("cookie %s: path %q, SameSite %s, HttpOnly %v, Secure %v, domain %q; want %q, %s, %v, true, host-only 127.0.0.1",
				name, c.Path, c.SameSite, c.HTTPOnly, c.Secure, c.Domain, w.Path, w.SameSite, w.HTTPOnly)
		}
	}
	if c, ok := cookieNamed(login.Cookies, wire.AccessCookie); ok {
		if life := time.Duration((c.Expires - login.Now) * float64(time.Second)); life < accessTTL-time.Minute || life > accessTTL+time.Minute {
			t.Errorf("the access cookie lives %v, want the access token's %v", life, accessTTL)
		}
	}

	expired := r.step(t, "expired")
	wantLines(t, "the call after the access cookie expired", expired.View.since(login.View),
		"ListNotes refused: Unauthenticated "+wire.ReasonTokenMissing, "Refresh ok", "ListNotes ok: 1")
	before, _ := cookieNamed(expired.Before, wire.RefreshCookie)
	after, ok := cookieNamed(expired.Cookies, wire.RefreshCookie)
	if _, hasAccess := cookieNamed(expired.Cookies, wire.AccessCookie); !ok || !hasAccess || after.Value == before.Value {
		t.Errorf("after Refresh the browser holds %+v: want a new access cookie and a rotated refresh cookie", expired.Cookies)
	}

	logout := r.step(t, "logout")
	if len(logout.Cookies) != 0 {
		t.Errorf("after Logout the browser still holds %+v", logout.Cookies)
	}
	afterAttacks := r.step(t, "after-attacks")
	wantLines(t, "the call after logout", logout.Refused.since(afterAttacks.Refreshed),
		"Logout ok", "ListNotes refused: Unauthenticated "+wire.ReasonTokenMissing, "Refresh refused: Unauthenticated")
	// The refresh cookie of before the logout, put back: authd refuses
	// it, having ended the session.
	wantLines(t, "the call with the cookies of before the logout", logout.View.since(logout.Refused),
		"ListNotes refused: Unauthenticated "+wire.ReasonTokenMissing, "Refresh refused: Unauthenticated "+wire.ReasonTokenRevoked)
}

// wantLines fails unless lines holds each of want, in order, each as the
// start of a line.
func wantLines(t *testing.T, what string, lines []string, want ...string) {
	t.Helper()
	i := 0
	for _, l := range lines {
		if i < len(want) && strings.HasPrefix(l, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("%s: the page logged %q, want lines starting %q in order", what, lines, want)
	}
}

var jwt = regexp.MustCompile(`eyJ[\w-]{4,}\.[\w-]+\.[\w-]+`)

// (b) The page's scripts cannot read a token: document.cookie holds only
// the CSRF cookie, storage is empty, and neither the bodies nor the headers
// that fetch shows them carry one; tokens travel only in Set-Cookie.
func checkTokensHidden(t *testing.T, r *run, authd string) {
	var tokens []string
	for _, s := range r.Steps {
		for _, c := range append(slices.Clone(s.Cookies), s.Before...) {
			if c.Name == wire.AccessCookie || c.Name == wire.RefreshCookie {
				tokens = append(tokens, c.Value)
			}
		}
	}
	if len(tokens) < 4 {
		t.Fatalf("only %d tokens seen in the browser's cookies: the steps did not run?", len(tokens))
	}
	leaks := func(s string) bool {
		if jwt.MatchString(s) {
			return true
		}
		for _, tok := range tokens {
			if tok != "" && strings.Contains(s, tok) {
				return true
			}
		}
		return false
	}
	sawLogin := false
	for _, name := range []string{"login", "expired", "logout"} {
		s := r.step(t, name)
		csrf, _ := cookieNamed(s.Cookies, wire.CSRFCookie)
		wantCookie := ""
		if csrf.Value != "" {
			wantCookie = wire.CSRFCookie + "=" + csrf.Value
		}
		if s.JS.Cookie != wantCookie {
			t.Errorf("%s: document.cookie = %q, want %q", name, s.JS.Cookie, wantCookie)
		}
		if s.JS.LocalStorage != 0 || s.JS.SessionStorage != 0 {
			t.Errorf("%s: localStorage has %d items, sessionStorage %d, want none", name, s.JS.LocalStorage, s.JS.SessionStorage)
		}
		for _, seen := range s.JS.Seen {
			sawLogin = sawLogin || (seen.URL == authd+"/auth.v1.AuthService/Login" && seen.Status == http.StatusOK)
			if leaks(seen.Body) {
				t.Errorf("%s: the page's script read a token in the body of %s: %s", name, seen.URL, seen.Body)
			}
			for _, h := range seen.Headers {
				if leaks(h[1]) || strings.EqualFold(h[0], "set-cookie") {
					t.Errorf("%s: the page's script read header %s: %s of %s", name, h[0], h[1], seen.URL)
				}
			}
		}
	}
	if !sawLogin {
		t.Error("the page's fetch never saw Login answer: the recorder did not run?")
	}
	// The network side: Login and Refresh answered with the tokens in
	// Set-Cookie, and not in their bodies.
	answered := map[string]bool{}
	for _, e := range r.Network {
		method := strings.TrimPrefix(e.URL, authd+"/auth.v1.AuthService/")
		if e.Method != http.MethodPost || e.Status != http.StatusOK || (method != "Login" && method != "Refresh") {
			continue
		}
		answered[method] = true
		if leaks(e.Body) {
			t.Errorf("%s answered a token in its body: %s", method, e.Body)
		}
		if !leaks(e.SetCookie) {
			t.Errorf("%s answered no token in Set-Cookie: %q", method, e.SetCookie)
		}
	}
	if !answered["Login"] || !answered["Refresh"] {
		t.Errorf("the network saw Login and Refresh answer %v, want both", answered)
	}
}

// (c) Pages of other origins cannot make an authenticated call: their
// forms and fetches reach the servers refused or not at all, and nothing
// changed; and (b) neither can the honest page without its CSRF header.
func checkOtherOrigins(t *testing.T, r *run, targets []string, crossSite, sameSite string) {
	for _, f := range r.step(t, "no-csrf-header").Results {
		if f.Status != http.StatusForbidden || !strings.Contains(f.Body, wire.ReasonCSRFTokenInvalid) {
			t.Errorf("the page's own call to %s without %s: %d %s, want 403 %s", f.URL, wire.CSRFHeader, f.Status, f.Body, wire.ReasonCSRFTokenInvalid)
		}
	}
	for _, name := range []string{"attack-cross-site", "attack-same-site"} {
		s := r.step(t, name)
		posted := 0
		for _, e := range s.Network {
			if e.Method != http.MethodPost || !slices.Contains(targets, e.URL) {
				continue
			}
			posted++
			if e.Failed == "" && (e.Status < 400 || e.Status == 0) {
				t.Errorf("%s: POST %s was answered %d: %s", name, e.URL, e.Status, e.Body)
			}
		}
		// Three forms and three simple fetches at least reach the servers.
		if posted < 2*len(targets) {
			t.Errorf("%s: the network saw %d POSTs to the targets, want at least %d: %+v", name, posted, 2*len(targets), s.Network)
		}
		for _, f := range s.Fetches.Results {
			switch f.Kind {
			case "simple": // sent, its answer hidden from the script
				if f.Error == "" && f.Type != "opaque" {
					t.Errorf("%s: a no-cors fetch of %s was readable: %+v", name, f.URL, f)
				}
			default: // refused at preflight: never sent
				if f.Error == "" {
					t.Errorf("%s: the %s fetch of %s was answered %d %s, want a refused preflight", name, f.Kind, f.URL, f.Status, f.Body)
				}
			}
		}
		if len(s.Fetches.Results) != 3*len(targets) {
			t.Errorf("%s: %d fetches, want %d", name, len(s.Fetches.Results), 3*len(targets))
		}
	}
	// Another site cannot read the CSRF cookie; a page on the same host
	// can (cookies ignore ports), and still cannot send it: CORS refuses
	// its preflight (the csrf-header fetches above).
	if s := r.step(t, "attack-cross-site"); s.Fetches.CSRFReadable || s.Fetches.Cookie != "" {
		t.Errorf("a page of %s read cookies %q", crossSite, s.Fetches.Cookie)
	}
	if s := r.step(t, "attack-same-site"); !s.Fetches.CSRFReadable {
		t.Logf("a page of %s could not read the CSRF cookie (%q): browsers now keep ports apart?", sameSite, s.Fetches.Cookie)
	}
	after := r.step(t, "after-attacks")
	if !slices.Equal(after.View.Notes, []string{"buy milk"}) || !after.View.LoggedIn {
		t.Errorf("after the other origins' attempts the page shows %+v, want the one note, logged in", after.View)
	}
	wantLines(t, "the session after the other origins' attempts", after.Refreshed.since(after.View),
		"ListNotes refused: Unauthenticated "+wire.ReasonTokenMissing, "Refresh ok", "ListNotes ok: 1")
}

// (d) authd answers the preflight of its allowed origin only.
func checkPreflight(t *testing.T, authd, page, crossSite, sameSite string) {
	for _, origin := range []string{page, crossSite, sameSite} {
		req, err := http.NewRequest(http.MethodOptions, authd+"/auth.v1.AuthService/Refresh", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "content-type,"+wire.CSRFHeader)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		allowed := res.Header.Get("Access-Control-Allow-Origin")
		switch {
		case origin == page && (allowed != page || res.Header.Get("Access-Control-Allow-Credentials") != "true"):
			t.Errorf("preflight from %s: %s, Allow-Origin %q, Allow-Credentials %q; want the origin, with credentials",
				origin, res.Status, allowed, res.Header.Get("Access-Control-Allow-Credentials"))
		case origin != page && (allowed != "" || res.StatusCode < 400):
			t.Errorf("preflight from %s: %s, Allow-Origin %q; want a refusal without it", origin, res.Status, allowed)
		}
	}
}
