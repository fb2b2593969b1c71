// Package sqlstore is the store.Store shared by the SQL backends
// (store/sqlite, store/postgres): the same queries, written with ?
// placeholders and rebound per dialect, over database/sql.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd-dev/authd/store"
)

// Dialect is what differs between the SQL backends.
type Dialect struct {
	// Numbered rewrites ? placeholders as $1, $2, … (PostgreSQL).
	Numbered bool
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation func(err error) bool
	// GroupCommit runs the hot write, a refresh's rotation, from all
	// callers through one writer that commits whatever is waiting at once
	// (SQLite: one writer at a time, an fsync per commit).
	GroupCommit bool
}

// DB is a store.Store over a database/sql pool.
type DB struct {
	DB      *sql.DB
	dialect Dialect
	applied []string
	// stmts holds a prepared statement per query text: a statement is
	// parsed once, not at every call (with SQLite, parsing cost as much as
	// running the query).
	stmts sync.Map // string -> *sql.Stmt
	// group is the writer of Dialect.GroupCommit, nil without it.
	group *groupCommit
	// Counters, when set, is the pool the login-attempt counters are
	// kept through (store/sqlite: the same file without an fsync per
	// commit); DB otherwise. Close closes it.
	Counters *sql.DB
	// swept is when (Unix seconds) idle counters and expired attempts
	// were last swept.
	swept atomic.Int64
}

// sweepInterval is how often a reservation also sweeps the counters.
const sweepInterval = 10 * time.Second

var _ store.Store = (*DB)(nil)

// New wraps db, whose schema Migrate has brought up to date, applying
// the migrations named in applied.
func New(db *sql.DB, d Dialect, applied []string) *DB {
	s := &DB{DB: db, dialect: d, applied: applied}
	if d.GroupCommit {
		s.group = newGroupCommit(s)
	}
	return s
}

// AppliedMigrations names the migrations applied when the database was
// opened: none when its schema was already up to date.
func (d *DB) AppliedMigrations() []string { return d.applied }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.DB.PingContext(ctx) }

// Close closes the pool.
func (d *DB) Close() error {
	if d.group != nil {
		d.group.close()
	}
	if d.Counters != nil {
		d.Counters.Close()
	}
	d.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	return d.DB.Close()
}

// prepared returns the statement of query, preparing it on first use.
func (d *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	// Not the caller's context: the statement outlives the call.
	st, err := d.DB.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	if other, loaded := d.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return other.(*sql.Stmt), nil
	}
	return st, nil
}

func (d *DB) rebind(query string) string {
	if !d.dialect.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := d.prepared(ctx, d.rebind(query))
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (d *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := d.prepared(ctx, d.rebind(query))
	if err != nil {
		return d.DB.QueryRowContext(ctx, d.rebind(query), args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

func (d *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := d.prepared(ctx, d.rebind(query))
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// Execer runs statements: a *sql.Conn, *sql.Tx or *sql.DB.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// Migrate applies, in order and each in its own transaction, every
// migration in migrations ("NNNN_name.sql" files) newer than the schema's
// recorded version, and returns the names of those it applied. Callers
// that may race another process hold a lock.
func Migrate(ctx context.Context, conn Execer, migrations fs.FS, d Dialect) ([]string, error) {
	db := &DB{dialect: d}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, err
	}
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var applied []string
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migration %s: no version prefix", name)
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return applied, err
		}
		done, err := db.apply(ctx, conn, version, string(body))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", name, err)
		}
		if done {
			applied = append(applied, strings.TrimSuffix(name, ".sql"))
		}
	}
	return applied, nil
}

// apply runs one migration unless the schema already has it, and reports
// whether it ran.
func (d *DB) apply(ctx context.Context, conn Execer, version int, body string) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var applied int
	if err := tx.QueryRowContext(ctx, d.rebind(`SELECT count(*) FROM schema_migrations WHERE version = ?`), version).Scan(&applied); err != nil {
		return false, err
	}
	if applied > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), version, time.Now().Unix()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// BackfillNameKeys gives every user without a name_key (created before
// the column, or by an older authd) its store.NameKey, oldest user first;
// a user whose key another already holds (names that were distinct before
// keys, such as "Alice" beside "alice") keeps none, and is found by its
// exact name only. It runs in one transaction, after Migrate, under the
// same lock.
func BackfillNameKeys(ctx context.Context, conn Execer, d Dialect) error {
	db := &DB{dialect: d}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM users WHERE name_key IS NULL ORDER BY id`)
	if err != nil {
		return fmt.Errorf("backfill name keys: %w", err)
	}
	type user struct {
		id   int64
		name string
	}
	var users []user
	for rows.Next() {
		var u user
		if err := rows.Scan(&u.id, &u.name); err != nil {
			rows.Close()
			return fmt.Errorf("backfill name keys: %w", err)
		}
		users = append(users, u)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("backfill name keys: %w", err)
	}
	if len(users) == 0 {
		return nil
	}
	for _, u := range users {
		key := store.NameKey(u.name)
		if _, err := tx.ExecContext(ctx, db.rebind(`UPDATE users SET name_key = ?
			WHERE id = ? AND NOT EXISTS (SELECT 1 FROM users WHERE name_key = ?)`), key, u.id, key); err != nil {
			return fmt.Errorf("backfill name keys: %w", err)
		}
	}
	return tx.Commit()
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
	var id int64
	err := d.queryRow(ctx,
		`INSERT INTO users (name, name_key, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		name, store.NameKey(name), hash, unix(now), unix(now)).Scan(&id)
	if d.dialect.IsUniqueViolation(err) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return store.User{ID: id, Name: name, PasswordHash: hash, CreatedAt: fromUnix(unix(now)), UpdatedAt: fromUnix(unix(now))}, nil
}

// userColumns are a user's columns, read FROM users; second_factor is
// whether it has a confirmed TOTP authenticator or a passkey.
const userColumns = `id, name, password_hash, roles, disabled, client_id, scopes, generation, require_binding,
	EXISTS (SELECT 1 FROM totp WHERE totp.user_id = users.id AND totp.confirmed)
	OR EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = users.id) AS second_factor,
	created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var roles, scopes string
	var clientID sql.NullString
	var created, updated int64
	err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &roles, &u.Disabled, &clientID, &scopes, &u.Generation, &u.RequireBinding, &u.SecondFactor, &created, &updated)
	u.Roles, u.Scopes, u.ClientID = splitNames(roles), splitNames(scopes), clientID.String
	u.CreatedAt, u.UpdatedAt = fromUnix(created), fromUnix(updated)
	return u, err
}

// Role and scope names, and authentication methods (amr), hold no spaces:
// a set of them is stored as one space-separated column.
func joinNames(names []string) string { return strings.Join(names, " ") }

func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// UserByName implements store.Users: the exact name first, then its key.
func (d *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = ? OR name_key = ?
		ORDER BY CASE WHEN name = ? THEN 0 ELSE 1 END LIMIT 1`, name, store.NameKey(name), name))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// UserByID implements store.Users.
func (d *DB) UserByID(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("user %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers implements store.Users.
func (d *DB) ListUsers(ctx context.Context, after string, limit int) ([]store.User, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	return d.listUsers(ctx, `SELECT `+userColumns+` FROM users WHERE client_id IS NULL AND name > ? ORDER BY name LIMIT ?`, after, limit)
}

// ListClients implements store.Clients.
func (d *DB) ListClients(ctx context.Context) ([]store.User, error) {
	return d.listUsers(ctx, `SELECT `+userColumns+` FROM users WHERE client_id IS NOT NULL ORDER BY name`)
}

// CreateClient implements store.Clients.
func (d *DB) CreateClient(ctx context.Context, name, clientID, hash string, scopes []string, now time.Time) (store.User, error) {
	var id int64
	err := d.queryRow(ctx,
		`INSERT INTO users (name, name_key, password_hash, client_id, scopes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		name, store.NameKey(name), hash, clientID, joinNames(scopes), unix(now), unix(now)).Scan(&id)
	if d.dialect.IsUniqueViolation(err) {
		return store.User{}, fmt.Errorf("client %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create client: %w", err)
	}
	return store.User{ID: id, Name: name, PasswordHash: hash, ClientID: clientID, Scopes: scopes,
		CreatedAt: fromUnix(unix(now)), UpdatedAt: fromUnix(unix(now))}, nil
}

// SetRequireBinding implements store.Clients.
func (d *DB) SetRequireBinding(ctx context.Context, name string, require bool, now time.Time) error {
	res, err := d.exec(ctx, `UPDATE users SET require_binding = ?, updated_at = ? WHERE name = ? AND client_id IS NOT NULL`, require, unix(now), name)
	if err != nil {
		return fmt.Errorf("set require_binding: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("client %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// ClientByID implements store.Clients.
func (d *DB) ClientByID(ctx context.Context, clientID string) (store.User, error) {
	u, err := scanUser(d.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE client_id = ?`, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("client: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get client: %w", err)
	}
	return u, nil
}

func (d *DB) listUsers(ctx context.Context, query string, args ...any) ([]store.User, error) {
	rows, err := d.query(ctx, query, args...)
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
	return d.updateUser(ctx, name, `UPDATE users SET password_hash = ?, updated_at = ?, generation = generation + 1 WHERE name = ?`, hash, unix(now), name)
}

// RehashPassword implements store.Users.
func (d *DB) RehashPassword(ctx context.Context, name, oldHash, newHash string) error {
	if _, err := d.exec(ctx, `UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?`, newHash, name, oldHash); err != nil {
		return fmt.Errorf("rehash password: %w", err)
	}
	return nil
}

// SetRoles implements store.Users: the same roles again change nothing.
func (d *DB) SetRoles(ctx context.Context, name string, roles []string, now time.Time) error {
	r := joinNames(roles)
	return d.updateUser(ctx, name, `UPDATE users SET roles = ?,
		updated_at = CASE WHEN roles = ? THEN updated_at ELSE ? END,
		generation = CASE WHEN roles = ? THEN generation ELSE generation + 1 END WHERE name = ?`, r, r, unix(now), r, name)
}

// SetDisabled implements store.Users: disabling a disabled user, or
// enabling an enabled one, changes nothing.
func (d *DB) SetDisabled(ctx context.Context, name string, disabled bool, now time.Time) error {
	return d.updateUser(ctx, name, `UPDATE users SET disabled = ?,
		updated_at = CASE WHEN disabled = ? THEN updated_at ELSE ? END,
		generation = CASE WHEN disabled = ? THEN generation ELSE generation + 1 END WHERE name = ?`, disabled, disabled, unix(now), disabled, name)
}

func (d *DB) updateUser(ctx context.Context, name, query string, args ...any) error {
	res, err := d.exec(ctx, query, args...)
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
	// Only while the user is enabled and still at the generation the
	// password was checked under: a change in between refuses the session.
	res, err := d.exec(ctx, `INSERT INTO sessions (id, user_id, user_generation, auth_time, acr, amr, cnf_jkt, cnf_x5t, created_at, expires_at,
		refresh_jti, refresh_issued_at, refresh_expires_at, access_jti, access_issued_at, access_expires_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND generation = ? AND NOT disabled)`,
		s.ID, s.UserID, s.UserGeneration, unix(s.AuthTime), s.ACR, joinNames(s.AMR), s.KeyThumbprint, s.CertificateThumbprint, unix(s.CreatedAt), unix(s.ExpiresAt),
		c.RefreshJTI, unix(c.RefreshIssuedAt), unix(c.RefreshExpiresAt), c.AccessJTI, unix(c.AccessIssuedAt), unix(c.AccessExpiresAt),
		s.UserID, s.UserGeneration)
	if d.dialect.IsUniqueViolation(err) {
		return fmt.Errorf("session: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("create session: the user changed or was disabled: %w", store.ErrConflict)
	}
	return nil
}

// Session implements store.Sessions.
func (d *DB) Session(ctx context.Context, id string) (store.Session, error) {
	var s store.Session
	var roles, scopes, amr string
	var authTime, created, expires, rIAT, rEXP, aIAT, aEXP int64
	var revoked, prevSpent, pRIAT, pREXP, pAIAT, pAEXP sql.NullInt64
	var userGeneration int64
	var disabled bool
	err := d.queryRow(ctx, `SELECT s.id, s.user_id, u.name, u.roles, u.scopes, s.auth_time, s.acr, s.amr, s.cnf_jkt, s.cnf_x5t, s.created_at, s.expires_at, s.revoked_at,
		s.refresh_jti, s.refresh_issued_at, s.refresh_expires_at, s.access_jti, s.access_issued_at, s.access_expires_at,
		s.previous_jti, s.previous_refresh_issued_at, s.previous_refresh_expires_at,
		s.previous_access_jti, s.previous_access_issued_at, s.previous_access_expires_at,
		s.previous_spent_at, s.previous_parent_jti, s.user_generation, u.generation, u.disabled
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id).Scan(
		&s.ID, &s.UserID, &s.Username, &roles, &scopes, &authTime, &s.ACR, &amr, &s.KeyThumbprint, &s.CertificateThumbprint, &created, &expires, &revoked,
		&s.Current.RefreshJTI, &rIAT, &rEXP, &s.Current.AccessJTI, &aIAT, &aEXP,
		&s.Previous.RefreshJTI, &pRIAT, &pREXP, &s.Previous.AccessJTI, &pAIAT, &pAEXP,
		&prevSpent, &s.PreviousParentJTI, &s.UserGeneration, &userGeneration, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	s.AuthTime, s.CreatedAt, s.ExpiresAt, s.RevokedAt = fromUnix(authTime), fromUnix(created), fromUnix(expires), fromNullUnix(revoked)
	s.Current.RefreshIssuedAt, s.Current.RefreshExpiresAt = fromUnix(rIAT), fromUnix(rEXP)
	s.Current.AccessIssuedAt, s.Current.AccessExpiresAt = fromUnix(aIAT), fromUnix(aEXP)
	s.Previous.RefreshIssuedAt, s.Previous.RefreshExpiresAt = fromNullUnix(pRIAT), fromNullUnix(pREXP)
	s.Previous.AccessIssuedAt, s.Previous.AccessExpiresAt = fromNullUnix(pAIAT), fromNullUnix(pAEXP)
	s.PreviousSpentAt = fromNullUnix(prevSpent)
	s.Roles, s.Scopes, s.AMR = splitNames(roles), splitNames(scopes), splitNames(amr)
	s.Stale = disabled || userGeneration != s.UserGeneration
	return s, nil
}

// Rotate implements store.Sessions with a single conditional UPDATE.
func (d *DB) Rotate(ctx context.Context, id, spentJTI string, next store.Rotation, now time.Time) error {
	// Every right-hand side reads the row as it was: the current pair
	// becomes the previous one, the previous refresh token its parent.
	n, err := d.execWrite(ctx, `UPDATE sessions SET
		previous_parent_jti = previous_jti,
		previous_jti = refresh_jti, previous_refresh_issued_at = refresh_issued_at, previous_refresh_expires_at = refresh_expires_at,
		previous_access_jti = access_jti, previous_access_issued_at = access_issued_at, previous_access_expires_at = access_expires_at,
		previous_spent_at = ?,
		refresh_jti = ?, refresh_issued_at = ?, refresh_expires_at = ?,
		access_jti = ?, access_issued_at = ?, access_expires_at = ?
		WHERE id = ? AND refresh_jti = ? AND revoked_at IS NULL
		AND user_generation = (SELECT generation FROM users WHERE id = sessions.user_id AND NOT disabled)`,
		unix(now), next.RefreshJTI, unix(next.RefreshIssuedAt), unix(next.RefreshExpiresAt),
		next.AccessJTI, unix(next.AccessIssuedAt), unix(next.AccessExpiresAt), id, spentJTI)
	if err != nil {
		return fmt.Errorf("rotate session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("rotate session: %w", store.ErrConflict)
	}
	return nil
}

// StepUpSession implements store.Sessions with a single conditional
// UPDATE: only a live session (not revoked, its user enabled and at its
// generation) takes a new proof.
func (d *DB) StepUpSession(ctx context.Context, id, acr string, amr []string, authTime time.Time) error {
	res, err := d.exec(ctx, `UPDATE sessions SET auth_time = ?, acr = ?, amr = ?
		WHERE id = ? AND revoked_at IS NULL
		AND user_generation = (SELECT generation FROM users WHERE id = sessions.user_id AND NOT disabled)`,
		unix(authTime), acr, joinNames(amr), id)
	if err != nil {
		return fmt.Errorf("step up session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("step up session: %w", err)
	} else if n > 0 {
		return nil
	}
	var one int
	switch err := d.queryRow(ctx, `SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("step up session: %w", store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("step up session: %w", err)
	}
	return fmt.Errorf("step up session: revoked or stale: %w", store.ErrConflict)
}

// execWrite runs a write through the group commit when the dialect has
// one, and returns the rows it changed once it is committed.
func (d *DB) execWrite(ctx context.Context, query string, args ...any) (int64, error) {
	if d.group != nil {
		return d.group.exec(ctx, d.rebind(query), args...)
	}
	res, err := d.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RevokeSession implements store.Sessions.
func (d *DB) RevokeSession(ctx context.Context, id string, now time.Time) error {
	res, err := d.exec(ctx, `UPDATE sessions SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`, unix(now), id)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("session: %w", store.ErrNotFound)
	}
	return nil
}

// RevokeUserSessions implements store.Sessions in one transaction.
func (d *DB) RevokeUserSessions(ctx context.Context, userID int64, exceptID string, now time.Time) (int, error) {
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	defer tx.Rollback()
	if exceptID != "" {
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE sessions SET user_generation = (SELECT generation FROM users WHERE id = ?)
			WHERE id = ? AND user_id = ? AND revoked_at IS NULL`), userID, exceptID, userID); err != nil {
			return 0, fmt.Errorf("revoke sessions: %w", err)
		}
	}
	// The sessions a change of the user ended: opened under an earlier
	// generation, or every one of a disabled user.
	res, err := tx.ExecContext(ctx, d.rebind(`UPDATE sessions SET revoked_at = ?
		WHERE user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?
		AND EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id AND (u.disabled OR u.generation <> sessions.user_generation))`),
		unix(now), userID, exceptID, unix(now))
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return int(n), tx.Commit()
}

// ListSessions implements store.Sessions.
func (d *DB) ListSessions(ctx context.Context, userID int64, after store.SessionCursor, limit int, now time.Time) ([]store.Session, error) {
	if limit <= 0 {
		limit = math.MaxInt32
	}
	query := `SELECT id, auth_time, created_at, expires_at FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`
	args := []any{userID, unix(now)}
	if after.ID != "" {
		query += ` AND (created_at < ? OR (created_at = ? AND id > ?))`
		args = append(args, unix(after.CreatedAt), unix(after.CreatedAt), after.ID)
	}
	rows, err := d.query(ctx, query+` ORDER BY created_at DESC, id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		s := store.Session{UserID: userID}
		var authTime, created, expires int64
		if err := rows.Scan(&s.ID, &authTime, &created, &expires); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		s.AuthTime, s.CreatedAt, s.ExpiresAt = fromUnix(authTime), fromUnix(created), fromUnix(expires)
		out = append(out, s)
	}
	return out, rows.Err()
}

// RevokeExcessSessions implements store.Sessions: a read that finds the
// user within the bound (every login but the rare one past it) writes
// nothing.
func (d *DB) RevokeExcessSessions(ctx context.Context, userID int64, keepID string, bound int, now time.Time) ([]string, error) {
	var live int
	if err := d.queryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?`,
		userID, unix(now)).Scan(&live); err != nil {
		return nil, fmt.Errorf("revoke excess sessions: %w", err)
	}
	if live <= bound {
		return nil, nil
	}
	rows, err := d.query(ctx, `UPDATE sessions SET revoked_at = ?
		WHERE user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?
		AND id NOT IN (SELECT id FROM sessions WHERE user_id = ? AND id <> ? AND revoked_at IS NULL AND expires_at > ?
			ORDER BY created_at DESC, id LIMIT ?)
		RETURNING id`, unix(now), userID, keepID, unix(now), userID, keepID, unix(now), max(bound-1, 0))
	if err != nil {
		return nil, fmt.Errorf("revoke excess sessions: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("revoke excess sessions: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// PruneSessions implements store.Sessions.
func (d *DB) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	return d.pruneExpired(ctx, "sessions", before)
}

// pruneExpired deletes the rows of table (whose expires_at is in Unix
// seconds) that expired before before, and returns how many.
func (d *DB) pruneExpired(ctx context.Context, table string, before time.Time) (int, error) {
	res, err := d.exec(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, unix(before))
	if err != nil {
		return 0, fmt.Errorf("prune %s: %w", table, err)
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
	rows, err := d.query(ctx, `SELECT id, revoked_at, expires_at FROM sessions
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

// ReserveLoginAttempt implements store.Throttles in one transaction, whose
// rows are locked (PostgreSQL: FOR UPDATE; SQLite: the write lock taken at
// BEGIN) from the read to the update. Each attempt in flight is a row of
// login_attempts per key, with its own expiry.
func (d *DB) ReserveLoginAttempt(ctx context.Context, attempt string, limits []store.ThrottleLimit, now, since time.Time) (store.ThrottleWait, error) {
	if len(limits) == 0 {
		return store.ThrottleWait{}, nil
	}
	limits = slices.Clone(limits)
	slices.SortFunc(limits, func(a, b store.ThrottleLimit) int { return strings.Compare(a.Key, b.Key) }) // one lock order
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.Key
	}
	in, args := inList(keys)
	fail := func(err error) (store.ThrottleWait, error) {
		return store.ThrottleWait{}, fmt.Errorf("reserve login attempt: %w", err)
	}
	// Idle counters and expired attempts are swept in statements of their
	// own, at most every sweepInterval: inside the transaction they would
	// lock rows out of the one order (keys sorted) that keeps concurrent
	// attempts from deadlocking, and each is a write. Best effort: the
	// reads below treat idle counters as zero and expired attempts as gone
	// anyway.
	counters := d.counters()
	if last := d.swept.Load(); now.Unix()-last >= int64(sweepInterval/time.Second) && d.swept.CompareAndSwap(last, now.Unix()) {
		_, _ = counters.ExecContext(ctx, d.rebind(`DELETE FROM login_failures WHERE last_failure < ?`), unix(since))
		_, _ = counters.ExecContext(ctx, d.rebind(`DELETE FROM login_attempts WHERE expires_at <= ?`), unix(now))
	}
	tx, err := counters.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	for _, key := range keys {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO login_failures (key, failures, last_failure, in_flight)
			VALUES (?, 0, ?, 0) ON CONFLICT (key) DO NOTHING`), key, unix(now)); err != nil {
			return fail(err)
		}
	}
	lock := ""
	if d.dialect.Numbered { // PostgreSQL
		lock = " FOR UPDATE"
	}
	rows, err := tx.QueryContext(ctx, d.rebind(`SELECT key, failures, last_failure FROM login_failures
		WHERE key IN (`+in+`) ORDER BY key`+lock), args...)
	if err != nil {
		return fail(err)
	}
	failures := make(map[string]int, len(keys))
	last := make(map[string]time.Time, len(keys))
	for rows.Next() {
		var key string
		var n, at int64
		if err := rows.Scan(&key, &n, &at); err != nil {
			rows.Close()
			return fail(err)
		}
		if fromUnix(at).Before(since) {
			n = 0 // idle for the window: forgotten
		}
		failures[key], last[key] = int(n), fromUnix(at)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fail(err)
	}
	rows, err = tx.QueryContext(ctx, d.rebind(`SELECT key, count(*) FROM login_attempts
		WHERE key IN (`+in+`) AND expires_at > ? GROUP BY key`), append(slices.Clone(args), unix(now))...)
	if err != nil {
		return fail(err)
	}
	inFlight := make(map[string]int, len(keys))
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			rows.Close()
			return fail(err)
		}
		inFlight[key] = n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fail(err)
	}
	var refusal store.ThrottleWait
	for _, l := range limits {
		refusal = refusal.Worse(l.Check(failures[l.Key], inFlight[l.Key], last[l.Key], now))
	}
	if refusal.Refused() {
		return refusal, nil // nothing counted; the rows made above hold zeros
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE login_failures SET
		failures = CASE WHEN last_failure < ? THEN 0 ELSE failures END, last_failure = ?
		WHERE key IN (`+in+`)`), append([]any{unix(since), unix(now)}, args...)...); err != nil {
		return fail(err)
	}
	for _, key := range keys {
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO login_attempts (key, attempt, expires_at) VALUES (?, ?, ?)`),
			key, attempt, unix(now.Add(store.InFlightTTL))); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return store.ThrottleWait{}, nil
}

// FinishLoginAttempt implements store.Throttles in one transaction.
func (d *DB) FinishLoginAttempt(ctx context.Context, attempt string, keys []string, failed bool, clear []string, now time.Time) error {
	tx, err := d.counters().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("finish login attempt: %w", err)
	}
	defer tx.Rollback()
	all := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(keys), clear...))))
	if len(all) == 0 {
		return nil
	}
	if d.dialect.Numbered { // PostgreSQL: lock in ReserveLoginAttempt's order (keys sorted) first
		in, args := inList(all)
		rows, err := tx.QueryContext(ctx, d.rebind(`SELECT key FROM login_failures WHERE key IN (`+in+`) ORDER BY key FOR UPDATE`), args...)
		if err != nil {
			return fmt.Errorf("finish login attempt: %w", err)
		}
		for rows.Next() { // every row read, so every row locked
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("finish login attempt: %w", err)
		}
	}
	if len(keys) > 0 {
		in, args := inList(keys)
		if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM login_attempts WHERE attempt = ? AND key IN (`+in+`)`),
			append([]any{attempt}, args...)...); err != nil {
			return fmt.Errorf("finish login attempt: %w", err)
		}
	}
	var others []string
	for _, k := range keys {
		if !slices.Contains(clear, k) {
			others = append(others, k)
		}
	}
	if len(clear) > 0 {
		in, args := inList(clear)
		if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM login_failures WHERE key IN (`+in+`)`), args...); err != nil {
			return fmt.Errorf("finish login attempt: %w", err)
		}
	}
	if len(others) > 0 && failed {
		in, args := inList(others)
		if _, err := tx.ExecContext(ctx, d.rebind(`UPDATE login_failures SET failures = failures + 1, last_failure = ? WHERE key IN (`+in+`)`),
			append([]any{unix(now)}, args...)...); err != nil {
			return fmt.Errorf("finish login attempt: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish login attempt: %w", err)
	}
	return nil
}

// counters is the pool of the login-attempt counters.
func (d *DB) counters() *sql.DB {
	if d.Counters != nil {
		return d.Counters
	}
	return d.DB
}

// inList is the placeholders and arguments of an IN (…) over values.
func inList(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", "), args
}

// SigningKeys implements store.SigningKeys.
func (d *DB) SigningKeys(ctx context.Context) ([]store.SealedKey, error) {
	rows, err := d.query(ctx, `SELECT id, created_at_ns, activates_at_ns, public_key, sealed_private FROM signing_keys ORDER BY created_at_ns DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	defer rows.Close()
	var keys []store.SealedKey
	for rows.Next() {
		var k store.SealedKey
		var created, activates int64
		if err := rows.Scan(&k.ID, &created, &activates, &k.Public, &k.Sealed); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		k.Created = time.Unix(0, created).UTC()
		if activates != 0 { // 0: from its creation
			k.Activates = time.Unix(0, activates).UTC()
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// AddSigningKey implements store.SigningKeys.
func (d *DB) AddSigningKey(ctx context.Context, k store.SealedKey) error {
	var activates int64 // 0: from its creation
	if !k.Activates.IsZero() {
		activates = k.Activates.UnixNano()
	}
	_, err := d.exec(ctx, `INSERT INTO signing_keys (id, created_at_ns, activates_at_ns, public_key, sealed_private) VALUES (?, ?, ?, ?, ?)`,
		k.ID, k.Created.UnixNano(), activates, k.Public, k.Sealed)
	if d.dialect.IsUniqueViolation(err) {
		return fmt.Errorf("signing key %s: %w", k.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add signing key: %w", err)
	}
	return nil
}

// DeleteSigningKey implements store.SigningKeys.
func (d *DB) DeleteSigningKey(ctx context.Context, id string) error {
	if _, err := d.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete signing key: %w", err)
	}
	return nil
}
