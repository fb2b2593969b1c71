package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authd-dev/authd/store"
)

// SetTOTP implements store.SecondFactors: one statement, which inserts or
// replaces a pending authenticator and leaves a confirmed one alone.
func (d *DB) SetTOTP(ctx context.Context, userID int64, secret []byte, now time.Time) error {
	res, err := d.exec(ctx, `INSERT INTO totp (user_id, secret, created_at)
		SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		WHERE NOT totp.confirmed`, userID, secret, unix(now), userID)
	if err != nil {
		return fmt.Errorf("set totp: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set totp: %w", err)
	} else if n > 0 {
		return nil
	}
	// Nothing written: no such user, or a confirmed authenticator.
	if _, err := d.TOTP(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("set totp: user %d: %w", userID, store.ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("set totp: %w", err)
	}
	return fmt.Errorf("set totp: a confirmed authenticator: %w", store.ErrExists)
}

// TOTP implements store.SecondFactors.
func (d *DB) TOTP(ctx context.Context, userID int64) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	var created int64
	err := d.queryRow(ctx, `SELECT secret, confirmed, last_step, created_at FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Confirmed, &t.LastStep, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TOTP{}, fmt.Errorf("totp: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.TOTP{}, fmt.Errorf("get totp: %w", err)
	}
	t.CreatedAt = fromUnix(created)
	return t, nil
}

// ConfirmTOTP implements store.SecondFactors in one transaction: the
// conditional UPDATE that confirms decides, of concurrent confirmations,
// the one that replaces the recovery codes.
func (d *DB) ConfirmTOTP(ctx context.Context, userID int64, step int64, recoveryHashes [][]byte, now time.Time) error {
	fail := func(err error) error { return fmt.Errorf("confirm totp: %w", err) }
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, d.rebind(`UPDATE totp SET confirmed = ?, last_step = ? WHERE user_id = ? AND NOT confirmed`),
		true, step, userID)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err)
	} else if n == 0 {
		return fail(fmt.Errorf("no pending authenticator: %w", store.ErrConflict))
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
		return fail(err)
	}
	for _, h := range recoveryHashes {
		// A hash given twice is one code.
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)
			ON CONFLICT (user_id, hash) DO NOTHING`), userID, h); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// UseTOTPStep implements store.SecondFactors with a single conditional
// UPDATE (SQLite: through the group commit, as Rotate).
func (d *DB) UseTOTPStep(ctx context.Context, userID int64, step int64, now time.Time) error {
	n, err := d.execWrite(ctx, `UPDATE totp SET last_step = ? WHERE user_id = ? AND confirmed AND last_step < ?`, step, userID, step)
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	if n > 0 {
		return nil
	}
	t, err := d.TOTP(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !t.Confirmed):
		return fmt.Errorf("use totp step: no confirmed authenticator: %w", store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("use totp step: %w", err)
	}
	return fmt.Errorf("use totp step: step %d not after %d: %w", step, t.LastStep, store.ErrConflict)
}

// UseRecoveryCode implements store.SecondFactors with a single conditional
// UPDATE (SQLite: through the group commit).
func (d *DB) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, now time.Time) error {
	n, err := d.execWrite(ctx, `UPDATE recovery_codes SET spent_at = ? WHERE user_id = ? AND hash = ? AND spent_at IS NULL`,
		unix(now), userID, hash)
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("recovery code: %w", store.ErrNotFound)
	}
	return nil
}

// RecoveryCodesLeft implements store.SecondFactors.
func (d *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := d.queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = ? AND spent_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("recovery codes left: %w", err)
	}
	return n, nil
}

// DeleteSecondFactors implements store.SecondFactors in one transaction.
func (d *DB) DeleteSecondFactors(ctx context.Context, userID int64) (int, error) {
	fail := func(err error) (int, error) { return 0, fmt.Errorf("delete second factors: %w", err) }
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var removed int64
	for _, table := range []string{"totp", "passkeys", "recovery_codes"} {
		res, err := tx.ExecContext(ctx, d.rebind(`DELETE FROM `+table+` WHERE user_id = ?`), userID)
		if err != nil {
			return fail(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fail(err)
		}
		if table != "recovery_codes" { // codes are the authenticator's, not factors of their own
			removed += n
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return int(removed), nil
}

// AddPasskey implements store.SecondFactors.
func (d *DB) AddPasskey(ctx context.Context, p store.Passkey) error {
	return d.insertForUser(ctx, "passkey", p.UserID, `INSERT INTO passkeys (credential_id, user_id, name, credential, sign_count, created_at, last_used)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)`,
		p.CredentialID, p.UserID, p.Name, p.Credential, int64(p.SignCount), unix(p.CreatedAt), nullUnix(p.LastUsed), p.UserID)
}

// insertForUser runs query, an INSERT … SELECT that inserts the row of
// what only while the user userID exists: ErrExists when its key is
// taken, ErrNotFound when nothing was inserted.
func (d *DB) insertForUser(ctx context.Context, what string, userID int64, query string, args ...any) error {
	res, err := d.exec(ctx, query, args...)
	if d.dialect.IsUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("add %s: user %d: %w", what, userID, store.ErrNotFound)
	}
	return nil
}

const passkeyColumns = `credential_id, user_id, name, credential, sign_count, created_at, last_used`

func scanPasskey(row interface{ Scan(...any) error }) (store.Passkey, error) {
	var p store.Passkey
	var signCount, created int64
	var lastUsed sql.NullInt64
	err := row.Scan(&p.CredentialID, &p.UserID, &p.Name, &p.Credential, &signCount, &created, &lastUsed)
	p.SignCount, p.CreatedAt, p.LastUsed = uint32(signCount), fromUnix(created), fromNullUnix(lastUsed)
	return p, err
}

// Passkeys implements store.SecondFactors.
func (d *DB) Passkeys(ctx context.Context, userID int64) ([]store.Passkey, error) {
	rows, err := d.query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY created_at, credential_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	defer rows.Close()
	var out []store.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("passkeys: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PasskeyByCredentialID implements store.SecondFactors.
func (d *DB) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (store.Passkey, error) {
	p, err := scanPasskey(d.queryRow(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, credentialID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Passkey{}, fmt.Errorf("passkey: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Passkey{}, fmt.Errorf("get passkey: %w", err)
	}
	return p, nil
}

// UsePasskey implements store.SecondFactors with a single conditional
// UPDATE (SQLite: through the group commit).
func (d *DB) UsePasskey(ctx context.Context, credentialID []byte, signCount uint32, now time.Time) error {
	// A counter of 0 is an authenticator that keeps none: it passes only
	// while the stored one is 0 too.
	moved := `sign_count < ?`
	if signCount == 0 {
		moved = `sign_count = ?`
	}
	n, err := d.execWrite(ctx, `UPDATE passkeys SET sign_count = ?, last_used = ? WHERE credential_id = ? AND `+moved,
		int64(signCount), unix(now), credentialID, int64(signCount))
	if err != nil {
		return fmt.Errorf("use passkey: %w", err)
	}
	if n > 0 {
		return nil
	}
	p, err := d.PasskeyByCredentialID(ctx, credentialID)
	if err != nil {
		return fmt.Errorf("use passkey: %w", err)
	}
	return fmt.Errorf("use passkey: signature counter %d not after %d: %w", signCount, p.SignCount, store.ErrConflict)
}

// DeletePasskey implements store.SecondFactors.
func (d *DB) DeletePasskey(ctx context.Context, userID int64, credentialID []byte) error {
	res, err := d.exec(ctx, `DELETE FROM passkeys WHERE user_id = ? AND credential_id = ?`, userID, credentialID)
	if err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("passkey: %w", store.ErrNotFound)
	}
	return nil
}

// CreateChallenge implements store.SecondFactors.
func (d *DB) CreateChallenge(ctx context.Context, c store.Challenge) error {
	_, err := d.exec(ctx, `INSERT INTO login_challenges (id_hash, user_id, username, user_generation, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.IDHash, c.UserID, c.Username, c.UserGeneration, unix(c.CreatedAt), unix(c.ExpiresAt))
	if d.dialect.IsUniqueViolation(err) {
		return fmt.Errorf("challenge: %w", store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create challenge: %w", err)
	}
	return nil
}

// Challenge implements store.SecondFactors.
func (d *DB) Challenge(ctx context.Context, idHash []byte, now time.Time) (store.Challenge, error) {
	return d.challenge(ctx, `SELECT user_id, username, user_generation, created_at, expires_at FROM login_challenges
		WHERE id_hash = ? AND expires_at > ?`, idHash, now)
}

// ConsumeChallenge implements store.SecondFactors with a single DELETE …
// RETURNING: of concurrent consumers, the one whose DELETE removes the
// row gets it.
func (d *DB) ConsumeChallenge(ctx context.Context, idHash []byte, now time.Time) (store.Challenge, error) {
	return d.challenge(ctx, `DELETE FROM login_challenges WHERE id_hash = ? AND expires_at > ?
		RETURNING user_id, username, user_generation, created_at, expires_at`, idHash, now)
}

// challenge runs query, over idHash and now, for the one challenge it
// reads, or ErrNotFound. Its rows are read to the end: the statement is
// done (a DELETE committed) when it returns.
func (d *DB) challenge(ctx context.Context, query string, idHash []byte, now time.Time) (store.Challenge, error) {
	rows, err := d.query(ctx, query, idHash, unix(now))
	if err != nil {
		return store.Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	defer rows.Close()
	c := store.Challenge{IDHash: idHash}
	found := false
	for rows.Next() {
		var created, expires int64
		if err := rows.Scan(&c.UserID, &c.Username, &c.UserGeneration, &created, &expires); err != nil {
			return store.Challenge{}, fmt.Errorf("challenge: %w", err)
		}
		c.CreatedAt, c.ExpiresAt, found = fromUnix(created), fromUnix(expires), true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return store.Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	if !found {
		return store.Challenge{}, fmt.Errorf("challenge: %w", store.ErrNotFound)
	}
	return c, nil
}

// PruneChallenges implements store.SecondFactors.
func (d *DB) PruneChallenges(ctx context.Context, before time.Time) (int, error) {
	return d.pruneExpired(ctx, "login_challenges", before)
}

// nullUnix is t as a nullable column: NULL when zero.
func nullUnix(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: unix(t), Valid: true}
}
