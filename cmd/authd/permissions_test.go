package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveBriefly runs `authd serve` in-process for at most a few seconds:
// long enough to refuse its start, which it should; a serve that starts is
// stopped then (exit 0).
func serveBriefly(t *testing.T, dataDir string, args ...string) (stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), environ(dataDir, nil), strings.NewReader(""), &out, &errb)
	return errb.String(), code
}

// `authd serve` refuses to start on a data dir, database, signing key, TLS
// key or secret file that group or others may read or write, or that
// another user owns (a local user who can write keys/ would choose the
// signing key): one line naming the file and the command that fixes it.
// --allow-insecure-permissions starts anyway.
func TestE2E_ServeRefusesFilesOpenToOthers(t *testing.T) {
	t.Parallel()
	type setup func(t *testing.T, data string) (args []string, path string)
	// prepared makes a data dir as authd leaves it: database, a user, a
	// signing key.
	prepared := func(t *testing.T) string {
		t.Helper()
		data := t.TempDir()
		if _, errOut, code := authd(t, data, "long enough pw\n", "user", "add", "ines", "--password-stdin"); code != 0 {
			t.Fatalf("user add: %s", errOut)
		}
		if _, errOut, code := authd(t, data, "", "keys", "rotate"); code != 0 {
			t.Fatalf("keys rotate: %s", errOut)
		}
		return data
	}
	keyFile := func(t *testing.T, data string) string {
		t.Helper()
		pems, _ := filepath.Glob(filepath.Join(data, "keys", "*.pem"))
		if len(pems) == 0 {
			t.Fatalf("no key file in %s/keys", data)
		}
		return pems[0]
	}
	chmod := func(path string, mode os.FileMode) {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	secretFile := func(t *testing.T, mode os.FileMode) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte(strings.Repeat("s", 32)), mode); err != nil {
			t.Fatal(err)
		}
		chmod(path, mode) // whatever the umask
		return path
	}
	cases := map[string]setup{
		"data dir writable by group": func(t *testing.T, data string) ([]string, string) {
			chmod(data, 0o775)
			return nil, data
		},
		"database readable by group": func(t *testing.T, data string) ([]string, string) {
			db := filepath.Join(data, "authd.db")
			chmod(db, 0o640)
			return nil, db
		},
		"database elsewhere, writable by others": func(t *testing.T, data string) ([]string, string) {
			db := filepath.Join(t.TempDir(), "elsewhere.db")
			if _, errOut, code := authdWith(t, []string{"AUTHD_DB=sqlite:" + db}, data, "long enough pw\n", "user", "add", "jo", "--password-stdin"); code != 0 {
				t.Fatalf("user add: %s", errOut)
			}
			chmod(db, 0o602)
			return []string{"--db", "sqlite:" + db}, db
		},
		"keys dir writable by group": func(t *testing.T, data string) ([]string, string) {
			dir := filepath.Join(data, "keys")
			chmod(dir, 0o770)
			return nil, dir
		},
		"signing key readable by others": func(t *testing.T, data string) ([]string, string) {
			key := keyFile(t, data)
			chmod(key, 0o604)
			return nil, key
		},
		"HS256 secret readable by others": func(t *testing.T, data string) ([]string, string) {
			secret := secretFile(t, 0o644)
			return []string{"--hs256-secret-file", secret}, secret
		},
		"TLS key readable by group": func(t *testing.T, data string) ([]string, string) {
			dir := t.TempDir()
			ca := newCA(t, "perm")
			c, k := ca.issue(t, false)
			certFile, tlsKey := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			writeFile(t, certFile, c)
			writeFile(t, tlsKey, k)
			chmod(tlsKey, 0o640)
			return []string{"--tls-cert", certFile, "--tls-key", tlsKey}, tlsKey
		},
	}
	if os.Geteuid() == 0 {
		cases["signing key owned by another user"] = func(t *testing.T, data string) ([]string, string) {
			key := keyFile(t, data)
			if err := os.Chown(key, 4242, 4242); err != nil {
				t.Fatal(err)
			}
			return nil, key
		}
	} else {
		t.Log("not root: the case of a file owned by another user is not run")
	}
	for name, prepare := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data := prepared(t)
			args, path := prepare(t, data)
			errOut, code := serveBriefly(t, data, args...)
			fix := "chmod go-rwx " + path
			switch {
			case strings.Contains(name, "owned"):
				fix = "chown"
			case strings.Contains(name, "dir"):
				fix = "chmod go-w " + path
			}
			if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, path) ||
				!strings.Contains(errOut, fix) || !strings.Contains(errOut, "--allow-insecure-permissions") {
				t.Fatalf("serve: exit %d, stderr %q; want exit 1 and one line naming %s, %q and the flag", code, errOut, path, fix)
			}
			// The operator's explicit choice starts it.
			startServe(t, data, nil, append(args, "--allow-insecure-permissions")...)
		})
	}
}

// A data dir authd creates itself passes its own check, start after start:
// the directories 0700, the database and its -wal file and the signing
// keys 0600. A data dir others may list (but not write) is no harm.
func TestE2E_ServeCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	srv := startServe(t, data, nil)
	srv.cancel()
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(data, "keys"), filepath.Join(data, "authd.db"), filepath.Join(data, "authd.db-wal")} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %04o", path, fi.Mode().Perm())
		}
	}
	startServe(t, data, nil)
}
