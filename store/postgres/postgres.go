package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/authd-dev/authd/internal/sqlstore"
	"github.com/authd-dev/authd/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory-lock key migrations run under.
const migrationLock = 0x61757468 // "auth"

// DB is a PostgreSQL-backed store.Store.
type DB struct {
	*sqlstore.DB
}

var _ store.Store = (*DB)(nil)

var dialect = sqlstore.Dialect{Numbered: true, IsUniqueViolation: isUniqueViolation}

// Open connects to dsn (postgres://…; pool settings such as
// pool_max_conns are not read: use MaxConns), checks the connection and
// migrates the schema. Every query runs under its caller's context.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(MaxConns)
	db.SetMaxIdleConns(MaxConns)
	applied, err := migrate(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return &DB{sqlstore.New(db, dialect, applied)}, nil
}

// MaxConns bounds each instance's connection pool.
const MaxConns = 16

// migrate applies the migrations on one connection holding a
// session-level advisory lock: a second instance waits, then finds them
// applied. It returns the names of those it applied.
func migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	dir, _ := fs.Sub(migrations, "migrations")
	applied, err := sqlstore.Migrate(ctx, conn, dir, dialect)
	if err != nil {
		return applied, err
	}
	return applied, sqlstore.BackfillNameKeys(ctx, conn, dialect)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
