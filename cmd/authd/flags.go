package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/server"
)

// env looks a variable up: os.LookupEnv for the process, a map in tests,
// which therefore run commands in-process and in parallel.
type env func(name string) (string, bool)

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

// envName is the environment variable of a flag: AUTHD_ and its name in
// capitals with _ for -.
func envName(flagName string) string {
	return "AUTHD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse fills fs from the config file (--config or AUTHD_CONFIG), then from
// AUTHD_* environment variables, then from args, each overriding the one
// before; flags may come before or after the positional arguments, which it
// returns. After "--" everything is positional (a key id may begin with
// "-").
func parse(fs *flag.FlagSet, args []string, e env) ([]string, error) {
	if path := configPath(args, e); path != "" {
		if err := applyConfig(fs, path); err != nil {
			return nil, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := e(name); ok && envErr == nil {
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
		dashes := slices.Index(args, "--")
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{text: help(fs)}
			}
			return nil, flagError(fs, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		rest := fs.Args()
		if dashes >= 0 && len(args)-len(rest) > dashes {
			// flag stopped at "--": the rest is positional, verbatim.
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// storeFlags registers the flags every command has to find authd's data,
// into cfg; the key-encryption secret's file goes to kekFile.
func storeFlags(fs *flag.FlagSet, cfg *server.Config, kekFile *string) {
	def := server.Defaults()
	fs.String("config", "", "config file: one 'name = value' line per flag (# comments); the environment and flags win over it")
	fs.StringVar(&cfg.DataDir, "data-dir", def.DataDir, "directory for the SQLite database and signing keys (created on first start)")
	fs.StringVar(kekFile, "key-encryption-key-file", "", "with a PostgreSQL --db: the secret (>= 32 bytes, the same on every instance) that seals the signing keys kept in the database; or AUTHD_KEY_ENCRYPTION_KEY, base64")
	fs.StringVar(&cfg.Redis, "redis", "", "Redis URL (redis://host:6379/0) for login-throttling counters shared by instances and the revocation feed (off when empty)")
	fs.StringVar(&cfg.SQLiteSynchronous, "sqlite-synchronous", def.SQLiteSynchronous, "SQLite: full syncs every commit (a power loss cannot undo a revocation); normal is faster per write and may lose the last commits on power loss")
	fs.StringVar(&cfg.DB, "db", "", "database: empty for SQLite in --data-dir, sqlite:PATH, or postgres://… for instances sharing PostgreSQL")
}

// hashFlags registers the argon2id settings: serve checks passwords with
// them, and `authd user` hashes new ones with them.
func hashFlags(fs *flag.FlagSet, cfg *server.Config) {
	cfg.Hash = password.DefaultParams
	fs.Func("hash-memory", "argon2id memory in KiB (default 19456)", uintFlag(&cfg.Hash.Memory))
	fs.Func("hash-iterations", "argon2id iterations (default 2)", uintFlag(&cfg.Hash.Iterations))
	fs.IntVar(&cfg.HashConcurrency, "hash-concurrency", runtime.GOMAXPROCS(0), "password hashes computed at once (each holds --hash-memory)")
}

func uintFlag(dst *uint32) func(string) error {
	return func(s string) error {
		var v uint32
		if _, err := fmt.Sscan(s, &v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

// hasher returns the hasher of cfg's settings; a bad one is a usage error.
func hasher(cfg server.Config) (*password.Hasher, error) {
	h, err := password.NewHasher(cfg.Hash, cfg.HashConcurrency)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return h, nil
}

// keyEncryptionKey reads the secret that seals keys in a shared database:
// --key-encryption-key-file, or AUTHD_KEY_ENCRYPTION_KEY (base64); nil
// when neither is set.
func keyEncryptionKey(file string, e env) ([]byte, error) {
	if file != "" {
		return keys.ReadSecretFile(file)
	}
	v, _ := e("AUTHD_KEY_ENCRYPTION_KEY")
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: AUTHD_KEY_ENCRYPTION_KEY is not base64: %v", errUsage, err)
	}
	return b, nil
}

// noSecretHint is what a command that needs the key-encryption secret says
// when it has none. Not a usage error: the command was right, the
// deployment lacks a secret.
func noSecretHint(err error) error {
	if errors.Is(err, keys.ErrNoSecret) {
		return fmt.Errorf("%w: set --key-encryption-key-file or AUTHD_KEY_ENCRYPTION_KEY (at least 32 random bytes, the same on every instance; `authd keys new-secret` makes one)", err)
	}
	return err
}

// usageIfConfig marks the settings server.Config.Validate refuses as usage
// errors.
func usageIfConfig(err error) error {
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: %s", errUsage, ce.Msg)
	}
	return err
}

// configPath is the --config flag's value in args, else AUTHD_CONFIG.
func configPath(args []string, e env) string {
	path, _ := e("AUTHD_CONFIG")
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
