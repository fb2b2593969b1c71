package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
