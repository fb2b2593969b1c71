// Package sqlite is the embedded default store: a single SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode, with versioned migrations
// applied on open.
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
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authd-dev/authd/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxConns bounds the connection pool.
const maxConns = 8

// DB is a SQLite-backed store.Store.
type DB struct {
	db *sql.DB
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed, mode 0600) the database file at path and
// migrates it to the current schema.
func Open(ctx context.Context, path string) (*DB, error) {
	// SQLite creates its -wal and -shm files with the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
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
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return &DB{db: db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// migrate applies, in order and each in its own transaction, every embedded
// migration newer than the schema's recorded version.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: no version prefix", name)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, db, version, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
		return err
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().Unix()); err != nil {
		return err
	}
	return tx.Commit()
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// Times are stored as Unix seconds: JWT NumericDates have no finer grain.

func unix(t time.Time) int64 { return t.Unix() }

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }

func fromNullUnix(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromUnix(n.Int64)
}

// CreateUser implements store.Users.
func (d *DB) CreateUser(ctx context.Context, name, hash string, now time.Time) (store.User, error) {
	res, err := d.db.ExecContext(ctx,
		`INSERT INTO users (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		name, hash, unix(now), unix(now))
	if isUniqueViolation(err) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return store.User{ID: id, Name: name, PasswordHash: hash, CreatedAt: fromUnix(unix(now)), UpdatedAt: fromUnix(unix(now))}, nil
}

const userColumns = `id, name, password_hash, disabled, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var created, updated int64
	err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Disabled, &created, &updated)
	u.CreatedAt, u.UpdatedAt = fromUnix(created), fromUnix(updated)
	return u, err
}

// UserByName implements store.Users.
func (d *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(d.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers implements store.Users.
func (d *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// SetPassword implements store.Users.
func (d *DB) SetPassword(ctx context.Context, name, hash string, now time.Time) error {
	return d.updateUser(ctx, name, `UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?`, hash, unix(now), name)
}

// SetDisabled implements store.Users.
func (d *DB) SetDisabled(ctx context.Context, name string, disabled bool, now time.Time) error {
	return d.updateUser(ctx, name, `UPDATE users SET disabled = ?, updated_at = ? WHERE name = ?`, disabled, unix(now), name)
}

func (d *DB) updateUser(ctx context.Context, name, query string, args ...any) error {
	res, err := d.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// CreateSession implements store.Sessions.
func (d *DB) CreateSession(ctx context.Context, s store.Session) error {
	c := s.Current
	_, err := d.db.ExecContext(ctx, `INSERT INTO sessions (id, user_id, auth_time, created_at, expires_at,
		refresh_jti, refresh_issued_at, refresh_expires_at, access_jti, access_issued_at, access_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, unix(s.AuthTime), unix(s.CreatedAt), unix(s.ExpiresAt),
		c.RefreshJTI, unix(c.RefreshIssuedAt), unix(c.RefreshExpiresAt), c.AccessJTI, unix(c.AccessIssuedAt), unix(c.AccessExpiresAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("session: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session implements store.Sessions.
func (d *DB) Session(ctx context.Context, id string) (store.Session, error) {
	var s store.Session
	var authTime, created, expires, rIAT, rEXP, aIAT, aEXP int64
	var revoked, prevSpent sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT s.id, s.user_id, u.name, s.auth_time, s.created_at, s.expires_at, s.revoked_at,
		s.refresh_jti, s.refresh_issued_at, s.refresh_expires_at, s.access_jti, s.access_issued_at, s.access_expires_at,
		s.previous_jti, s.previous_spent_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id).Scan(
		&s.ID, &s.UserID, &s.Username, &authTime, &created, &expires, &revoked,
		&s.Current.RefreshJTI, &rIAT, &rEXP, &s.Current.AccessJTI, &aIAT, &aEXP,
		&s.PreviousJTI, &prevSpent)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	s.AuthTime, s.CreatedAt, s.ExpiresAt, s.RevokedAt = fromUnix(authTime), fromUnix(created), fromUnix(expires), fromNullUnix(revoked)
	s.Current.RefreshIssuedAt, s.Current.RefreshExpiresAt = fromUnix(rIAT), fromUnix(rEXP)
	s.Current.AccessIssuedAt, s.Current.AccessExpiresAt = fromUnix(aIAT), fromUnix(aEXP)
	s.PreviousSpentAt = fromNullUnix(prevSpent)
	return s, nil
}

// Rotate implements store.Sessions with a single conditional UPDATE.
func (d *DB) Rotate(ctx context.Context, id, spentJTI string, next store.Rotation, now time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET
		previous_jti = refresh_jti, previous_spent_at = ?,
		refresh_jti = ?, refresh_issued_at = ?, refresh_expires_at = ?,
		access_jti = ?, access_issued_at = ?, access_expires_at = ?
		WHERE id = ? AND refresh_jti = ? AND revoked_at IS NULL`,
		unix(now), next.RefreshJTI, unix(next.RefreshIssuedAt), unix(next.RefreshExpiresAt),
		next.AccessJTI, unix(next.AccessIssuedAt), unix(next.AccessExpiresAt), id, spentJTI)
	if err != nil {
		return fmt.Errorf("rotate session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("rotate session: %w", store.ErrConflict)
	}
	return nil
}

// RevokeSession implements store.Sessions.
func (d *DB) RevokeSession(ctx context.Context, id string, now time.Time) error {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, unix(now), id)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions implements store.Sessions.
func (d *DB) RevokeUserSessions(ctx context.Context, userID int64, exceptID string, now time.Time) (int, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND id <> ? AND revoked_at IS NULL`,
		unix(now), userID, exceptID)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ListRevocations implements store.Revocations.
func (d *DB) ListRevocations(ctx context.Context, after store.RevocationCursor, now time.Time, limit int) ([]store.Revocation, error) {
	at := int64(0)
	if !after.RevokedAt.IsZero() {
		at = unix(after.RevokedAt)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, revoked_at, expires_at FROM sessions
		WHERE revoked_at IS NOT NULL AND (revoked_at > ? OR (revoked_at = ? AND id > ?)) AND expires_at > ?
		ORDER BY revoked_at, id LIMIT ?`, at, at, after.SessionID, unix(now), limit)
	if err != nil {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var revoked, expires int64
		if err := rows.Scan(&r.SessionID, &revoked, &expires); err != nil {
			return nil, fmt.Errorf("list revocations: %w", err)
		}
		r.RevokedAt, r.ExpiresAt = fromUnix(revoked), fromUnix(expires)
		out = append(out, r)
	}
	return out, rows.Err()
}

// LoginFailures implements store.Throttles.
func (d *DB) LoginFailures(ctx context.Context, keys []string, since time.Time) (map[string]store.Failures, error) {
	out := make(map[string]store.Failures, len(keys))
	for _, key := range keys {
		var n, last int64
		err := d.db.QueryRowContext(ctx, `SELECT failures, last_failure FROM login_failures WHERE key = ? AND last_failure >= ?`,
			key, unix(since)).Scan(&n, &last)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("login failures: %w", err)
		}
		out[key] = store.Failures{Count: int(n), Last: fromUnix(last)}
	}
	return out, nil
}

// RecordLoginFailure implements store.Throttles in one transaction.
func (d *DB) RecordLoginFailure(ctx context.Context, keys []string, now, since time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE last_failure < ?`, unix(since)); err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	for _, key := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, failures, last_failure) VALUES (?, 1, ?)
			ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failure = excluded.last_failure`,
			key, unix(now)); err != nil {
			return fmt.Errorf("record login failure: %w", err)
		}
	}
	return tx.Commit()
}

// ResetLoginFailures implements store.Throttles.
func (d *DB) ResetLoginFailures(ctx context.Context, keys []string) error {
	for _, key := range keys {
		if _, err := d.db.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key); err != nil {
			return fmt.Errorf("reset login failures: %w", err)
		}
	}
	return nil
}
