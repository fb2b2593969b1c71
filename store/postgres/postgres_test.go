package postgres_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := postgres.Open(context.Background(), pgschema.ForTest(t, "authd_test"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// Instances starting together on an empty database: the advisory lock lets
// one migrate while the others wait, and all of them work.
func TestOpen_ConcurrentStartsMigrateOnce(t *testing.T) {
	dsn := pgschema.ForTest(t, "authd_test")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	dbs := make([]*postgres.DB, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = postgres.Open(context.Background(), dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	files, _ := filepath.Glob("migrations/*.sql")
	var n int
	if err := dbs[0].DB.DB.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows = %d, %v; want %d, one per migration", n, err, len(files))
	}
	if _, err := dbs[1].CreateUser(context.Background(), "alice", "h", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[2].UserByName(context.Background(), "alice"); err != nil {
		t.Fatalf("another instance does not see the user: %v", err)
	}
}

// Users created before names had keys (or by an older instance) keep being
// found by their exact name; the key is filled in when a store opens.
func TestOpen_GivesLegacyNamesTheirKeys(t *testing.T) {
	dsn := pgschema.ForTest(t, "authd_test")
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.LegacyNames(t, func(t *testing.T, name string) {
		if _, err := db.DB.DB.Exec(`INSERT INTO users (name, password_hash, created_at, updated_at) VALUES ($1, 'h', 0, 0)`, name); err != nil {
			t.Fatal(err)
		}
	}, func(t *testing.T) store.Store {
		reopened, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reopened.Close() })
		return reopened
	})
}
