package main

import (
	"debug/buildinfo"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/store/sqlite"
)

// A usage error is the one line that says what is wrong, and where the
// help is; an unknown name comes with the closest known one.
func TestE2E_UsageErrorIsOneLineAndSuggests(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	conf := filepath.Join(data, "typo.conf")
	if err := os.WriteFile(conf, []byte("acess-ttl = 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		line, hint string
	}{
		{nil, "no command", "authd --help"},
		{[]string{"kyes", "list"}, `unknown command "kyes"; did you mean keys?`, "authd --help"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "authd --help"},
		{[]string{"serve", "--acess-ttl", "1m"}, "unknown flag --acess-ttl; did you mean --access-ttl?", "authd serve --help"},
		{[]string{"serve", "--refersh-ttl=1h"}, "did you mean --refresh-ttl?", "authd serve --help"},
		{[]string{"serve", "--config", conf}, `unknown setting "acess-ttl"; did you mean access-ttl?`, "authd serve --help"},
		{[]string{"keys", "rotat"}, `unknown keys subcommand "rotat"; did you mean rotate?`, "authd keys --help"},
		{[]string{"user", "ad", "bob"}, `unknown user subcommand "ad"; did you mean add?`, "authd user --help"},
		{[]string{"client", "lst"}, `unknown client subcommand "lst"; did you mean list?`, "authd client --help"},
		{[]string{"serve", "--leeway", "2m"}, "leeway 2m0s is outside", "authd serve --help"},
		{[]string{"serve", "--pprof"}, "--pprof needs --metrics-addr", "authd serve --help"},
		{[]string{"serve", "--max-sessions-per-user", "0"}, "--max-sessions-per-user must be at least 1", "authd serve --help"},
	} {
		out, errOut, code := authd(t, data, "", tc.args...)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "authd: ") ||
			!strings.Contains(lines[0], tc.line) || lines[1] != "see '"+tc.hint+"'" {
			t.Errorf("authd %q: exit %d, stdout %q, stderr %q; want exit 2 and two lines: %q, see '%s'", tc.args, code, out, errOut, tc.line, tc.hint)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "keys")); !os.IsNotExist(err) {
		t.Errorf("a refused start made the key dir: %v", err)
	}
}

// Help goes to stdout with exit 0, so that it can be piped and grepped.
func TestE2E_HelpOnStdout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"authd serve [flags]", "authd keys prune", "authd keys new-secret", "authd --version"}},
		{[]string{"serve", "--help"}, []string{"authd serve [flags]", "-access-ttl duration", "-refresh-ttl duration", "AUTHD_ACCESS_TTL"}},
		{[]string{"keys", "-h"}, []string{"authd keys prune", "authd keys new-secret", "-key-encryption-key-file"}},
		{[]string{"user", "add", "--help"}, []string{"authd user add NAME", "list a user's roles, or change them", "-password-stdin"}},
	} {
		out, errOut, code := authd(t, t.TempDir(), "", tc.args...)
		if code != 0 || errOut != "" {
			t.Errorf("authd %q: exit %d, stderr %q; want exit 0 and nothing on stderr", tc.args, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("authd %q: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}

// --version prints what the Go toolchain recorded in the binary.
func TestE2E_VersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	check := func(bin string) (out, revision string) {
		t.Helper()
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
		b, err := exec.Command(bin, "--version").Output()
		out = string(b)
		if err != nil || !strings.HasPrefix(out, "authd "+info.Main.Version+" ") || !strings.Contains(out, info.GoVersion) ||
			!strings.Contains(out, revision) || strings.Count(out, "\n") != 1 {
			t.Errorf("authd --version = %q (%v); want one line with %s, revision %q and %s", out, err, info.Main.Version, revision, info.GoVersion)
		}
		return out, revision
	}
	check(authdBin)
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("no git checkout to stamp a revision from (%v): checked the version without one", err)
	}
	// Stamped even where GOFLAGS says -buildvcs=false (the command line wins).
	bin := filepath.Join(t.TempDir(), "authd")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, out)
	}
	out, revision := check(bin)
	if want := strings.TrimSpace(string(head)); revision != want || !strings.Contains(out, "revision "+want) {
		t.Errorf("authd --version = %q; want revision %s", out, want)
	}
}

// keys new-secret prints a secret in the format AUTHD_KEY_ENCRYPTION_KEY
// wants, and says how to use it with a file too.
func TestE2E_KeysNewSecret(t *testing.T) {
	t.Parallel()
	first, how, code := authd(t, t.TempDir(), "", "keys", "new-secret")
	second, _, _ := authd(t, t.TempDir(), "", "keys", "new-secret")
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(first, "\n"))
	if code != 0 || err != nil || len(secret) < 32 || strings.Count(first, "\n") != 1 {
		t.Fatalf("keys new-secret: exit %d, stdout %q (%v); want one line of base64 of 32+ bytes", code, first, err)
	}
	if first == second {
		t.Fatal("two secrets are the same")
	}
	if _, err := keys.NewKeyEncryptionKey(secret); err != nil {
		t.Fatalf("the secret does not make a key-encryption key: %v", err)
	}
	for _, w := range []string{"AUTHD_KEY_ENCRYPTION_KEY", "--key-encryption-key-file", "base64 -d"} {
		if !strings.Contains(how, w) {
			t.Errorf("keys new-secret's stderr does not mention %s:\n%s", w, how)
		}
	}
	if os.Getenv("AUTHD_TEST_POSTGRES") == "" {
		t.Skip("AUTHD_TEST_POSTGRES is not set: the secret was not tried on a shared database")
	}
	dsn := pgschema.ForTest(t, "authd_cli")
	data := t.TempDir()
	// Without a secret, a shared database is refused: a deployment error,
	// not a usage error.
	_, errOut, code := authdWith(t, []string{"AUTHD_DB=" + dsn}, data, "", "keys", "rotate")
	if code != 1 || strings.Contains(errOut, "see '") || !strings.Contains(errOut, "authd keys new-secret") {
		t.Errorf("keys rotate without a secret: exit %d, stderr %q; want exit 1 pointing at keys new-secret", code, errOut)
	}
	if _, errOut, code := authdWith(t, []string{"AUTHD_DB=" + dsn, "AUTHD_KEY_ENCRYPTION_KEY=" + strings.TrimSpace(first)}, data, "", "keys", "rotate"); code != 0 {
		t.Fatalf("keys rotate with the secret in the environment: exit %d, %s", code, errOut)
	}
	// The decoded bytes in a file are the same secret: the key opens.
	file := filepath.Join(data, "kek")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := authdWith(t, []string{"AUTHD_DB=" + dsn}, data, "", "keys", "rotate", "--key-encryption-key-file", file); code != 0 {
		t.Fatalf("keys rotate with the secret in a file: exit %d, %s%s", code, out, errOut)
	}
}

// user add and passwd hold new passwords to the policy, and new names to
// RFC 8265 (a name taken under its folded form is taken); a refused
// password is not a usage error. A user whose name no longer conforms (one
// made before) is still listed, and its password changed, by that name.
func TestE2E_UserAddEnforcesThePasswordPolicy(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tc := range []struct {
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"short\n", []string{"user", "add", "bob", "--password-stdin"}, 1, "password has 5 characters, fewer than 8"},
		{"Password1\n", []string{"user", "add", "bob", "--password-stdin"}, 1, "one of the most common passwords"},
		{"long enough pw\n", []string{"user", "add", "bad\tname", "--password-stdin"}, 2, "username has control characters"},
		{"long enough pw\n", []string{"user", "add", " bob", "--password-stdin"}, 2, "username has leading or trailing spaces"},
		{"long enough pw\n", []string{"user", "add", "two words", "--password-stdin"}, 2, "does not conform to RFC 8265"},
		{"long enough pw\n", []string{"user", "add", "Client:x", "--password-stdin"}, 2, "kept for service accounts"},
	} {
		out, errOut, code := authd(t, data, tc.stdin, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.stderr) || (code == 1) == strings.Contains(errOut, "see '") {
			t.Errorf("authd %q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.stderr)
		}
	}
	if out, errOut, code := authd(t, data, "twelve chars\n", "user", "add", "Zoë", "--password-stdin"); code != 0 {
		t.Fatalf("user add: exit %d, %s%s", code, out, errOut)
	}
	if _, errOut, code := authd(t, data, "twelve chars\n", "user", "add", "ZOË", "--password-stdin"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("user add of a name taken under its folded form: exit %d, %s", code, errOut)
	}
	// A user made before names had to conform.
	st, err := sqlite.Open(t.Context(), filepath.Join(data, "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.CreateUser(t.Context(), "two words", "$argon2id$unused", time.Now())
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := authd(t, data, "12345678\n", "user", "passwd", "two words", "--password-stdin"); code != 1 || !strings.Contains(errOut, "most common") {
		t.Errorf("user passwd with a common password: exit %d, %s", code, errOut)
	}
	out, _, _ := authd(t, data, "", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rest, quoted := strings.CutPrefix(lines[len(lines)-1], `"two words" `)
	if len(lines) != 3 || !quoted || len(strings.Fields(rest)) != 4 {
		t.Errorf("user list: want the header and two users, each name one column:\n%s", out)
	}
}
