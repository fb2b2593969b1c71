// Package pgschema gives a test or load run a PostgreSQL schema of its own,
// so runs on one database never collide.
package pgschema

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Create makes a new schema named prefix_<random> on dsn's database and
// returns a DSN that uses it (search_path) and a function that drops it.
func Create(dsn, prefix string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, err
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := prefix + "_" + hex.EncodeToString(b)
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	}
	return u.String(), drop, nil
}

// ForTest returns a DSN on a schema of the test's own, dropped when it
// ends; the test is skipped when AUTHD_TEST_POSTGRES is not set.
func ForTest(t testing.TB, prefix string) string {
	t.Helper()
	dsn := os.Getenv("AUTHD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("AUTHD_TEST_POSTGRES is not set")
	}
	schemaDSN, drop, err := Create(dsn, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return schemaDSN
}
