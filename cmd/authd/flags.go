package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// newFlagSet returns a flag set whose usage goes to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse fills fs from AUTHD_* environment variables, then from args, where
// flags may come before or after the positional arguments, which it returns.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
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
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
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
	dataDir string
	db      string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dataDir, "data-dir", "./data", "directory for the SQLite database and signing keys (created on first start)")
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
	case strings.HasPrefix(s.db, "postgres://"), strings.HasPrefix(s.db, "postgresql://"):
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
	return sqlite.Open(ctx, path)
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

// loadKeyring loads (or on first start creates) the Ed25519 keys.
func (s *storeFlags) loadKeyring() (*token.Keyring, error) {
	return token.LoadKeyDir(s.keyDir(), time.Now())
}
