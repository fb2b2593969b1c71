package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd-dev/authd/internal/sqlstore"
	"github.com/authd-dev/authd/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxConns bounds the connection pool.
const maxConns = 8

// DB is a SQLite-backed store.Store.
type DB struct {
	*sqlstore.DB
}

var _ store.Store = (*DB)(nil)

var dialect = sqlstore.Dialect{IsUniqueViolation: isUniqueViolation, GroupCommit: true}

// Option configures Open.
type Option func(*options)

type options struct{ synchronous string }

// WithSynchronous sets SQLite's synchronous mode: "full" (the default)
// syncs every commit, so a power loss cannot undo a revocation or a
// rotation that was answered; "normal" syncs at WAL checkpoints only,
// faster per write, and a power loss may drop the last commits (never
// corrupt the file). docs/operations.md has the measured cost.
func WithSynchronous(mode string) Option { return func(o *options) { o.synchronous = mode } }

// Open opens (creating if needed, mode 0600) the database file at path and
// migrates it to the current schema.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := options{synchronous: "full"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.synchronous != "full" && o.synchronous != "normal" {
		return nil, fmt.Errorf("sqlite synchronous %q: want full or normal", o.synchronous)
	}
	// SQLite creates its -wal and -shm files with the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	db, err := pool(path, o.synchronous, maxConns)
	if err != nil {
		return nil, err
	}
	dir, _ := fs.Sub(migrations, "migrations")
	applied, err := sqlstore.Migrate(ctx, db, dir, dialect)
	if err == nil {
		err = sqlstore.BackfillNameKeys(ctx, db, dialect)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	// Login-attempt counters are commits of their own, three for a login
	// with its session; unsynced they cost no fsync. A power loss may
	// forget the last failed attempts counted, which throttling can bear
	// (the Redis counters keep nothing on disk at all); WAL keeps commits
	// in order, so a later synced commit makes them durable too.
	counters, err := pool(path, "normal", countersConns)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := sqlstore.New(db, dialect, applied)
	s.Counters = counters
	return &DB{s}, nil
}

// countersConns bounds the login-attempt counters' pool: each attempt
// holds one for two short transactions, and attempts are few at a time
// (each then waits for a hash).
const countersConns = 2

// pool opens a connection pool on the file at path with SQLite's
// synchronous mode set to synchronous.
func pool(path, synchronous string, conns int) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(" + synchronous + ")"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// WAL lets readers share the file while one writer works; a few
	// connections serve that, and a burst of calls waits for one (within its
	// deadline) rather than opening hundreds.
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
