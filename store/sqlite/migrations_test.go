package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/authd-dev/authd/internal/sqlstore"
	"github.com/authd-dev/authd/store/sqlite"
)

// Open reports the migrations it applied: every one on a new file, none
// on a file already up to date.
func TestOpen_ReportsTheMigrationsItApplied(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, strings.TrimSuffix(f.Name(), ".sql"))
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := db.AppliedMigrations(); !slices.Equal(got, want) {
		t.Errorf("first open applied %v; want %v", got, want)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.AppliedMigrations(); len(got) != 0 {
		t.Errorf("second open applied %v; want none", got)
	}
}

// Sessions opened before 0013 read with no acr and no amr, and their users
// with no second factor.
func TestMigration0013_ExistingSessionsCarryNoACR(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	before := fstest.MapFS{}
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var later []string
	for _, f := range files {
		if f.Name() >= "0013" {
			later = append(later, strings.TrimSuffix(f.Name(), ".sql"))
			continue
		}
		body, err := os.ReadFile(filepath.Join("migrations", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		before[f.Name()] = &fstest.MapFile{Data: body}
	}
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.Migrate(ctx, old, before, sqlstore.Dialect{}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, name, password_hash, created_at, updated_at) VALUES (1, 'alice', 'h', 0, 0)`,
		`INSERT INTO sessions (id, user_id, auth_time, created_at, expires_at, refresh_jti, refresh_issued_at,
			refresh_expires_at, access_jti, access_issued_at, access_expires_at) VALUES ('sid', 1, 0, 0, 9, 'r', 0, 9, 'a', 0, 9)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.AppliedMigrations(); !slices.Equal(got, later) {
		t.Fatalf("applied %v, want %v", got, later)
	}
	if s, err := db.Session(ctx, "sid"); err != nil || s.ACR != "" || s.AMR != nil {
		t.Fatalf("an existing session: acr %q amr %q, %v; want none", s.ACR, s.AMR, err)
	}
	if u, err := db.UserByName(ctx, "alice"); err != nil || u.SecondFactor {
		t.Fatalf("an existing user: %+v, %v; want no second factor", u, err)
	}
}
