package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authd.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestOpen_MigratesOnceAndKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, "alice", "h", t0()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if _, err := db.UserByName(ctx, "alice"); err != nil {
		t.Fatalf("user lost across reopen: %v", err)
	}
}

func t0() (t time.Time) { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// Users created before names had keys keep being found by their exact
// name; the key is filled in when the file is opened.
func TestOpen_GivesLegacyNamesTheirKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.LegacyNames(t, func(t *testing.T, name string) {
		if _, err := db.DB.DB.Exec(`INSERT INTO users (name, password_hash, created_at, updated_at) VALUES (?, 'h', 0, 0)`, name); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T) store.Store {
		db.Close()
		reopened, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reopened.Close() })
		return reopened
	})
}
