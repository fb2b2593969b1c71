package sqlstore

import (
	"context"
	"errors"
)

// ProbeWrite commits a write that changes nothing in the end: the newest
// row of schema_migrations negated and restored in one transaction (a
// rewrite with its own values would be skipped by SQLite, which writes no
// page whose content is unchanged). It fails when the database cannot
// write (a full disk, a read-only file system, a lost primary), which a
// read would not tell. /readyz asks it.
func (d *DB) ProbeWrite(ctx context.Context) error {
	tx, err := d.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	const flip = `UPDATE schema_migrations SET applied_at = -applied_at WHERE version = (SELECT max(version) FROM schema_migrations)`
	for range 2 {
		if _, err := tx.ExecContext(ctx, flip); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
}
