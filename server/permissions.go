package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// checkPermissions refuses to trust what others can change or read: the
// data dir, the SQLite database (and its -wal and -shm files) and the
// signing keys' directory and files must be owned by the user authd runs
// as (or root); the files carry no permission for group or others, the
// directories none to write (CheckPrivate). A local user
// who could write keys/ would choose the signing key; one who could read
// the database would read its hashes. The TLS key is checked too. Files
// that do not exist yet are
// skipped (authd creates them so). AllowInsecurePermissions turns the
// check off.
func (c Config) checkPermissions() error {
	if c.AllowInsecurePermissions {
		return nil
	}
	var paths []string
	if !c.shared() {
		// The keys live in the data dir unless the database is shared.
		keyDir := filepath.Join(c.DataDir, "keys")
		paths = append(paths, c.DataDir, keyDir)
		entries, err := os.ReadDir(keyDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("signing keys: %w", err)
		}
		for _, e := range entries {
			paths = append(paths, filepath.Join(keyDir, e.Name()))
		}
	}
	if c.Store == nil && !c.shared() {
		db := filepath.Join(c.DataDir, "authd.db")
		if strings.HasPrefix(c.DB, "sqlite:") {
			db = strings.TrimPrefix(strings.TrimPrefix(c.DB, "sqlite:"), "//")
		}
		paths = append(paths, db, db+"-wal", db+"-shm")
	}
	if c.TLSKey != "" {
		paths = append(paths, c.TLSKey)
	}
	for _, p := range paths {
		if err := CheckPrivate(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// InsecureError is a file or directory authd refuses to trust: group or
// others may read or write it, or another user owns it. Its message is one
// line that says how to fix it.
type InsecureError struct {
	Path   string
	Mode   fs.FileMode
	Owner  int // -1 when the owner is acceptable
	Reason string
	fix    string // chmod's argument
}

func (e *InsecureError) Error() string {
	fix := "chmod " + e.fix + " " + e.Path
	if e.Owner >= 0 {
		fix = fmt.Sprintf("chown %d %s", os.Geteuid(), e.Path)
	}
	return fmt.Sprintf("%s %s: %s (or start with --allow-insecure-permissions)", e.Path, e.Reason, fix)
}

// CheckPrivate reports whether path (a file or a directory, symbolic links
// followed) is private to the user authd runs as: owned by that user or
// root; a file with no permission for group or others, a directory that
// group and others may not write. It returns an
// *InsecureError if not, and the fs.ErrNotExist of a missing path.
// `authd serve` checks its data dir, database, signing keys and secret
// files with it.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if uid, ok := ownerOf(fi); ok && uid != os.Geteuid() && uid != 0 {
		return &InsecureError{Path: path, Mode: fi.Mode(), Owner: uid,
			Reason: fmt.Sprintf("is owned by uid %d, and authd runs as uid %d", uid, os.Geteuid())}
	}
	// A directory others may list is no harm (its files are private);
	// one they may write lets them add, replace or rename its files.
	mask, what, fix := fs.FileMode(0o077), "open to group or others", "go-rwx"
	if fi.IsDir() {
		mask, what, fix = 0o022, "writable by group or others", "go-w"
	}
	if perm := fi.Mode().Perm(); perm&mask != 0 {
		return &InsecureError{Path: path, Mode: fi.Mode(), Owner: -1, fix: fix,
			Reason: fmt.Sprintf("is %s (mode %04o)", what, perm)}
	}
	return nil
}
