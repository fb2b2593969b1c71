package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authd-dev/authd/store"
)

// CreateCeremony implements store.Ceremonies: one statement, which writes
// nothing for a user that does not exist.
func (d *DB) CreateCeremony(ctx context.Context, c store.Ceremony) error {
	var user sql.NullInt64
	if c.UserID != 0 {
		user = sql.NullInt64{Int64: c.UserID, Valid: true}
	}
	return d.insertForUser(ctx, "ceremony", c.UserID, `INSERT INTO webauthn_ceremonies (id_hash, kind, user_id, binding, data, created_at, expires_at)
		SELECT ?, ?, ?, ?, ?, ?, ? WHERE CAST(? AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM users WHERE id = ?)`,
		c.IDHash, c.Kind, user, nonNil(c.Binding), c.Data, unix(c.CreatedAt), unix(c.ExpiresAt), user, user)
}

// ConsumeCeremony implements store.Ceremonies with a single DELETE …
// RETURNING: of concurrent consumers, the one whose DELETE removes the
// row gets it. Its rows are read to the end, so the DELETE is done when
// it returns.
func (d *DB) ConsumeCeremony(ctx context.Context, idHash []byte, now time.Time) (store.Ceremony, error) {
	rows, err := d.query(ctx, `DELETE FROM webauthn_ceremonies WHERE id_hash = ? AND expires_at > ?
		RETURNING kind, user_id, binding, data, created_at, expires_at`, idHash, unix(now))
	if err != nil {
		return store.Ceremony{}, fmt.Errorf("consume ceremony: %w", err)
	}
	defer rows.Close()
	c := store.Ceremony{IDHash: idHash}
	found := false
	for rows.Next() {
		var user sql.NullInt64
		var created, expires int64
		if err := rows.Scan(&c.Kind, &user, &c.Binding, &c.Data, &created, &expires); err != nil {
			return store.Ceremony{}, fmt.Errorf("consume ceremony: %w", err)
		}
		c.UserID, c.CreatedAt, c.ExpiresAt, found = user.Int64, fromUnix(created), fromUnix(expires), true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return store.Ceremony{}, fmt.Errorf("consume ceremony: %w", err)
	}
	if !found {
		return store.Ceremony{}, fmt.Errorf("ceremony: %w", store.ErrNotFound)
	}
	if len(c.Binding) == 0 {
		c.Binding = nil
	}
	return c, nil
}

// PruneCeremonies implements store.Ceremonies.
func (d *DB) PruneCeremonies(ctx context.Context, before time.Time) (int, error) {
	return d.pruneExpired(ctx, "webauthn_ceremonies", before)
}

// nonNil is b, or an empty slice for a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
