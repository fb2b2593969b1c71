package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/redisstore"
	"github.com/authd-dev/authd/store/sqlite"
)

// newFlagSet returns a flag set that prints nothing itself: parse turns
// its errors into one-line usage errors, and -h into a helpRequest.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// help is the help of fs's command: its lines of the usage, its flags, and
// how flags come from the environment and the config file.
func help(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	lines := strings.Split(usage, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  "+fs.Name()+" ") {
			continue
		}
		b.WriteString(line + "\n")
		// A description too long for its line continues, indented, below.
		for _, next := range lines[i+1:] {
			if !strings.HasPrefix(next, "      ") {
				break
			}
			b.WriteString(next + "\n")
		}
	}
	b.WriteString("\nFlags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	b.WriteString("\nEvery flag is also an environment variable, AUTHD_ and its name in capitals with _ for -\n" +
		"(--access-ttl: AUTHD_ACCESS_TTL), and a line of the --config file. Flags win over the\n" +
		"environment, which wins over the file.\n")
	return b.String()
}

// flagError turns the flag package's error into authd's: a usage error
// that suggests the closest flag for an unknown one.
func flagError(fs *flag.FlagSet, err error) error {
	name, unknown := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !unknown {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return fmt.Errorf("%w: unknown flag --%s%s", errUsage, name, didYouMean(name, flagNames(fs), "--"))
}

func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// parse fills fs from the config file (--config or AUTHD_CONFIG), then from
// AUTHD_* environment variables, then from args, each overriding the one
// before; flags may come before or after the positional arguments, which it
// returns.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if path := configPath(args); path != "" {
		if err := applyConfig(fs, path); err != nil {
			return nil, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "AUTHD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: %s: %v", errUsage, name, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{text: help(fs)}
			}
			return nil, flagError(fs, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// storeFlags are the flags every command has to find authd's data.
type storeFlags struct {
	dataDir    string
	db         string
	redis      string
	kekFile    string
	sqliteSync string
}

// shared reports whether instances share the database, and so keep their
// signing keys in it.
func (s *storeFlags) shared() bool {
	return strings.HasPrefix(s.db, "postgres://") || strings.HasPrefix(s.db, "postgresql://")
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.String("config", "", "config file: one 'name = value' line per flag (# comments); the environment and flags win over it")
	fs.StringVar(&s.dataDir, "data-dir", "./data", "directory for the SQLite database and signing keys (created on first start)")
	fs.StringVar(&s.kekFile, "key-encryption-key-file", "", "with a PostgreSQL --db: the secret (>= 32 bytes, the same on every instance) that seals the signing keys kept in the database; or AUTHD_KEY_ENCRYPTION_KEY, base64")
	fs.StringVar(&s.redis, "redis", "", "Redis URL (redis://host:6379/0) for login-throttling counters shared by instances and the revocation feed (off when empty)")
	fs.StringVar(&s.sqliteSync, "sqlite-synchronous", "full", "SQLite: full syncs every commit (a power loss cannot undo a revocation); normal is faster per write and may lose the last commits on power loss")
	fs.StringVar(&s.db, "db", "", "database: empty for SQLite in --data-dir, sqlite:PATH, or postgres://… for instances sharing PostgreSQL")
}

func (s *storeFlags) keyDir() string { return filepath.Join(s.dataDir, "keys") }

// openStore opens the configured database, creating the data dir if needed.
func (s *storeFlags) openStore(ctx context.Context) (store.Store, error) {
	path := filepath.Join(s.dataDir, "authd.db")
	switch {
	case s.db == "":
		if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	case strings.HasPrefix(s.db, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(s.db, "sqlite:"), "//")
	case s.shared():
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, s.db)
		if err != nil {
			// pgx errors may quote the DSN: say only where.
			return nil, fmt.Errorf("--db %s: %w", redactDSN(s.db), redactErr(err, s.db))
		}
		return db, nil
	default:
		return nil, fmt.Errorf("%w: --db %q: want empty, sqlite:PATH or postgres://…", errUsage, redactDSN(s.db))
	}
	if s.sqliteSync != "full" && s.sqliteSync != "normal" {
		return nil, fmt.Errorf("%w: --sqlite-synchronous %q: want full or normal", errUsage, s.sqliteSync)
	}
	return sqlite.Open(ctx, path, sqlite.WithSynchronous(s.sqliteSync))
}

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

// keyEncryptionKey reads the secret that seals keys in a shared database:
// --key-encryption-key-file, or AUTHD_KEY_ENCRYPTION_KEY (base64).
func (s *storeFlags) keyEncryptionKey() (*keys.KeyEncryptionKey, error) {
	var secret []byte
	switch {
	case s.kekFile != "":
		b, err := keys.ReadSecretFile(s.kekFile)
		if err != nil {
			return nil, err
		}
		secret = b
	case os.Getenv("AUTHD_KEY_ENCRYPTION_KEY") != "":
		b, err := base64.StdEncoding.DecodeString(os.Getenv("AUTHD_KEY_ENCRYPTION_KEY"))
		if err != nil {
			return nil, fmt.Errorf("%w: AUTHD_KEY_ENCRYPTION_KEY is not base64: %v", errUsage, err)
		}
		secret = b
	default:
		// Not a usage error: the command was right, the deployment lacks
		// a secret.
		return nil, fmt.Errorf("%w: set --key-encryption-key-file or AUTHD_KEY_ENCRYPTION_KEY (at least 32 random bytes, the same on every instance; `authd keys new-secret` makes one)", keys.ErrNoSecret)
	}
	kek, err := keys.NewKeyEncryptionKey(secret)
	if err != nil {
		return nil, fmt.Errorf("key-encryption secret: %w", err)
	}
	return kek, nil
}

// configPath is the --config flag's value in args, else AUTHD_CONFIG.
func configPath(args []string) string {
	path := os.Getenv("AUTHD_CONFIG")
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, name := range []string{"--config", "-config"} {
			switch {
			case a == name && i+1 < len(args):
				path = args[i+1]
			case strings.HasPrefix(a, name+"="):
				path = strings.TrimPrefix(a, name+"=")
			}
		}
	}
	return path
}

// applyConfig sets fs's flags from a config file: one `name = value` per
// line, names as the flags', values optionally in double quotes, blank
// lines and # comments ignored. A name no authd command knows is an error
// (a typo must not silently fall back to a default); names of other
// commands' flags are skipped, so one file serves `serve` and `user`.
func applyConfig(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: config: %v", errUsage, err)
	}
	known, _ := serveFlags()
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return fmt.Errorf("%w: %s:%d: want name = value", errUsage, path, n+1)
		}
		if unquoted, err := strconv.Unquote(value); err == nil && strings.HasPrefix(value, `"`) {
			value = unquoted
		}
		if name == "config" || known.Lookup(name) == nil {
			return fmt.Errorf("%w: %s:%d: unknown setting %q%s", errUsage, path, n+1, name, didYouMean(name, flagNames(known), ""))
		}
		if fs.Lookup(name) == nil {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%w: %s:%d: %s: %v", errUsage, path, n+1, name, err)
		}
	}
	return nil
}

// openRedis connects to --redis, or returns nil when it is not set.
func (s *storeFlags) openRedis(ctx context.Context) (*redis.Client, error) {
	if s.redis == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client, err := redisstore.Open(ctx, s.redis)
	if err != nil {
		return nil, fmt.Errorf("--redis %s: %w", redactDSN(s.redis), redactErr(err, s.redis))
	}
	return client, nil
}

// describeStore names the database for the logs: the SQLite file, or the
// PostgreSQL host and database, never credentials or parameters.
func (s *storeFlags) describeStore() string {
	switch {
	case s.db == "":
		return "sqlite:" + filepath.Join(s.dataDir, "authd.db")
	case strings.HasPrefix(s.db, "sqlite:"):
		return s.db
	}
	u, err := url.Parse(s.db)
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
