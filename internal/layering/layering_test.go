package layering

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/authd-dev/authd/"

// imports lists every package of the module (its non-test files) with the
// module's packages it imports, as `go list` reads them.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}`, module+"...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imps, _ := strings.Cut(line, "|")
		own := []string{}
		for _, imp := range strings.Fields(imps) {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				own = append(own, rest)
			}
		}
		slices.Sort(own)
		pkgs[strings.TrimPrefix(path, module)] = own
	}
	return pkgs
}

// designTable reads the table of imports from docs/design.md: the rows
// between the layering markers, "| `pkg` | `a` `b` |" ("—" for none).
func designTable(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(b, []byte("<!-- layering:begin -->"))
	body, _, ok2 := bytes.Cut(rest, []byte("<!-- layering:end -->"))
	if !ok || !ok2 {
		t.Fatal("docs/design.md has no <!-- layering:begin --> … <!-- layering:end --> table")
	}
	table := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		cells := strings.Split(strings.TrimSpace(sc.Text()), "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		deps := []string{}
		for _, f := range strings.Fields(cells[2]) {
			if f = strings.Trim(f, "`,"); f != "" && f != "—" {
				deps = append(deps, f)
			}
		}
		slices.Sort(deps)
		if _, dup := table[pkg]; dup {
			t.Errorf("docs/design.md lists %s twice", pkg)
		}
		table[pkg] = deps
	}
	return table
}

// The design's table of imports is the code's: every package is in it,
// with exactly the module's packages it imports. Adding an import means
// deciding it in the design.
func TestDesignTableIsTheCode(t *testing.T) {
	code, design := imports(t), designTable(t)
	for pkg, deps := range code {
		want, ok := design[pkg]
		switch {
		case !ok:
			t.Errorf("package %s is not in docs/design.md's table of imports; it imports %v", pkg, deps)
		case !slices.Equal(deps, want):
			t.Errorf("package %s imports %v; docs/design.md says %v", pkg, deps, want)
		}
	}
	for pkg := range design {
		if _, ok := code[pkg]; !ok {
			t.Errorf("docs/design.md lists %s, which is no package", pkg)
		}
	}
}

// consumer are the packages a protected service imports.
var consumer = []string{"wire", "token", "guard", "interceptors", "jwks", "revocation", "protect", "client", "clock", "connectauth", "dpop"}

// What a service protected by authd imports pulls in none of authd's
// server packages, database drivers, Redis (but for revocation/redisfeed,
// which it imports only when it listens to the feed) or metrics.
func TestConsumersDoNotImportTheServer(t *testing.T) {
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	for _, p := range consumer {
		args = append(args, module+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	server := []string{"store", "password", "keys", "session", "accounts", "service", "server", "internal/sqlstore", "cmd/authd"}
	drivers := []string{"github.com/jackc/pgx", "modernc.org/sqlite", "github.com/redis/go-redis", "github.com/prometheus/", "golang.org/x/crypto/argon2"}
	for _, dep := range strings.Fields(string(out)) {
		if own, ok := strings.CutPrefix(dep, module); ok {
			for _, s := range server {
				if own == s || strings.HasPrefix(own, s+"/") {
					t.Errorf("a consumer package depends on the server package %s", own)
				}
			}
		}
		for _, d := range drivers {
			if strings.HasPrefix(dep, d) {
				t.Errorf("a consumer package depends on %s", dep)
			}
		}
	}
}
