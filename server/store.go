package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/redisstore"
	"github.com/authd-dev/authd/store/sqlite"
)

// OpenStore opens the configured database, creating the data dir if
// needed: what `authd serve` and the account and key commands run on.
func (c Config) OpenStore(ctx context.Context) (store.Store, error) {
	path := filepath.Join(c.DataDir, "authd.db")
	switch {
	case c.DB == "":
		if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	case strings.HasPrefix(c.DB, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(c.DB, "sqlite:"), "//")
	case c.shared():
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, c.DB)
		if err != nil {
			// pgx errors may quote the DSN: say only where.
			return nil, fmt.Errorf("--db %s: %w", redactDSN(c.DB), redactErr(err, c.DB))
		}
		return db, nil
	default:
		return nil, &ConfigError{Msg: fmt.Sprintf("--db %q: want empty, sqlite:PATH or postgres://…", redactDSN(c.DB))}
	}
	if c.SQLiteSynchronous != "full" && c.SQLiteSynchronous != "normal" {
		return nil, &ConfigError{Msg: fmt.Sprintf("--sqlite-synchronous %q: want full or normal", c.SQLiteSynchronous)}
	}
	return sqlite.Open(ctx, path, sqlite.WithSynchronous(c.SQLiteSynchronous))
}

// OpenRedis connects to Config.Redis, or returns nil when it is not set.
func (c Config) OpenRedis(ctx context.Context) (*redis.Client, error) {
	if c.Redis == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := redisstore.Open(ctx, c.Redis)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %w", redactDSN(c.Redis), redactErr(err, c.Redis))
	}
	return client, nil
}

// KeyBackend is where the signing keys live: sealed in a shared database,
// else files in DataDir/keys. The database needs the key-encryption
// secret only to open or add keys (needSecret); without it the error is
// keys.ErrNoSecret.
func (c Config) KeyBackend(st store.SigningKeys, needSecret bool) (keys.Backend, error) {
	if !c.shared() {
		return keys.Dir(filepath.Join(c.DataDir, "keys")), nil
	}
	if !needSecret {
		return keys.Database(st, nil), nil
	}
	if len(c.KeyEncryptionKey) == 0 {
		return nil, keys.ErrNoSecret
	}
	kek, err := keys.NewKeyEncryptionKey(c.KeyEncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("key-encryption secret: %w", err)
	}
	return keys.Database(st, kek), nil
}

// secretSealer seals second-factor secrets at rest in a shared database
// with the key-encryption secret, as signing keys are; nil for SQLite,
// whose file is private to authd (as its key files are).
func (c Config) secretSealer() (*keys.KeyEncryptionKey, error) {
	if !c.shared() {
		return nil, nil
	}
	if len(c.KeyEncryptionKey) == 0 {
		return nil, keys.ErrNoSecret
	}
	return keys.NewKeyEncryptionKey(c.KeyEncryptionKey)
}

// Shared reports whether the configured database is shared by instances
// (PostgreSQL), which then keep their signing keys in it.
func (c Config) Shared() bool { return c.shared() }

// redactErr replaces dsn in err's text by its redacted form.
func redactErr(err error, dsn string) error {
	if msg := err.Error(); strings.Contains(msg, dsn) {
		return errors.New(strings.ReplaceAll(msg, dsn, redactDSN(dsn)))
	}
	return err
}

// redactDSN hides a password in a DSN before it is printed.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "***" + dsn[i:]
		}
	}
	return dsn
}

// describeStore names the database for the logs: the SQLite file, or the
// PostgreSQL host and database, never credentials or parameters.
func (c Config) describeStore() string {
	switch {
	case c.Store != nil && c.DB == "":
		return "embedded"
	case c.DB == "":
		return "sqlite:" + filepath.Join(c.DataDir, "authd.db")
	case strings.HasPrefix(c.DB, "sqlite:"):
		return c.DB
	}
	u, err := url.Parse(c.DB)
	if err != nil {
		return "postgres"
	}
	return "postgres://" + u.Host + u.Path
}

// migrations names the schema migrations st applied when it was opened,
// or "none".
func migrations(st store.Store) string {
	m, ok := st.(interface{ AppliedMigrations() []string })
	if !ok || len(m.AppliedMigrations()) == 0 {
		return "none"
	}
	return strings.Join(m.AppliedMigrations(), ",")
}
