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
// corrupt the file). README "Storage" has the measured cost.
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
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(" + o.synchronous + ")"} {
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
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	dir, _ := fs.Sub(migrations, "migrations")
	applied, err := sqlstore.Migrate(ctx, db, dir, dialect)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return &DB{sqlstore.New(db, dialect, applied)}, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
