package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/token"
)

// keysArgs are the flags of `authd keys`.
type keysArgs struct {
	cfg     server.Config
	kekFile string
	delay   time.Duration // rotate: how long the new key is published before it signs
	now     bool          // rotate: the new key signs at once
}

// keysFlags are `authd keys`'s flags: where the keys are, and how long
// tokens live, which decides how long a retired key keeps verifying.
func keysFlags() (*flag.FlagSet, *keysArgs) {
	fs := newFlagSet("authd keys")
	k := &keysArgs{cfg: server.Defaults()}
	storeFlags(fs, &k.cfg, &k.kekFile)
	fs.DurationVar(&k.cfg.AccessTTL, "access-ttl", k.cfg.AccessTTL, "access-token lifetime")
	fs.DurationVar(&k.cfg.RefreshTTL, "refresh-ttl", k.cfg.RefreshTTL, "refresh-token idle lifetime, restarted by each refresh")
	fs.DurationVar(&k.delay, "key-propagation-delay", keys.DefaultPropagationDelay, "rotate: how long the new key is published before it signs; longer than the instances' key reload (a minute) plus how long consumers and caches keep the JWKS")
	fs.BoolVar(&k.now, "now", false, "rotate: the new key signs at once, at each instance's next reload or SIGHUP, before consumers of the others may know it (after a compromise: then revoke the old key); --key-propagation-delay 0")
	return fs, k
}

func keysCommand(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs, k := keysFlags()
	cfg := &k.cfg
	positional, err := parse(fs, kidsArePositional(args), e)
	if err != nil {
		return err
	}
	sub, rest, err := subcommands{
		cmd: "keys", noun: "argument", list: "list, rotate, prune, revoke KID or new-secret",
		arity: map[string]int{"list": 0, "rotate": 0, "prune": 0, "revoke": 1, "new-secret": 0},
	}.split(positional)
	if err != nil {
		return err
	}
	switch {
	case sub == "new-secret":
		return newSecret(stdout, stderr)
	}
	kekFile := k.kekFile // read after parse, which fills it
	switch {
	case k.now && sub != "rotate":
		return fmt.Errorf("%w: --now applies to keys rotate", errUsage)
	case k.delay < 0:
		return fmt.Errorf("%w: --key-propagation-delay %s is negative", errUsage, k.delay)
	case k.now:
		k.delay = 0
	}
	needSecret := sub == "rotate" || sub == "revoke"
	if needSecret {
		if cfg.KeyEncryptionKey, err = keyEncryptionKey(kekFile, e); err != nil {
			return err
		}
	}
	st, err := cfg.OpenStore(ctx)
	if err != nil {
		return usageIfConfig(err)
	}
	defer st.Close()
	backend, err := cfg.KeyBackend(st, needSecret)
	if err != nil {
		return noSecretHint(err)
	}
	m := keys.NewManager(backend, keys.WithKeep(keys.Keep(cfg.AccessTTL, cfg.RefreshTTL)), keys.WithLogger(slog.New(slog.DiscardHandler)),
		keys.WithPropagationDelay(k.delay))
	if !cfg.Shared() && (sub == "list" || sub == "rotate") {
		// With files, the first use makes the first key, as serve would.
		if _, err := m.Init(ctx); err != nil {
			return err
		}
	}
	switch sub {
	case "list":
		states, err := m.List(ctx)
		if err != nil {
			return err
		}
		return listKeys(states, time.Now(), stdout)
	case "rotate":
		if k.delay > 0 && k.delay < server.DefaultKeyReloadInterval {
			fmt.Fprintf(stderr, "warning: --key-propagation-delay %s is shorter than the instances' key reload (every %s): an instance may sign with the new key before another publishes it\n",
				k.delay, server.DefaultKeyReloadInterval)
		}
		key, err := m.Rotate(ctx)
		if err != nil {
			return err
		}
		if key.Activates.IsZero() {
			fmt.Fprintf(stdout, "new signing key %s is current; %s. Until every instance has reloaded, "+
				"consumers of one that has not may refuse its tokens: SIGHUP them all now\n", key.ID, reloadHint(*cfg))
			return nil
		}
		fmt.Fprintf(stdout, "new signing key %s is next: instances publish it at their next reload (every minute) or SIGHUP, "+
			"and sign with it from %s (in %s); the current key signs until then\n",
			key.ID, key.Activates.Format(time.RFC3339), k.delay)
		return nil
	case "prune":
		pruned, err := m.Prune(ctx)
		for _, k := range pruned {
			fmt.Fprintf(stdout, "pruned %s (created %s)\n", k.ID, k.Created.Format(time.RFC3339))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d key(s) pruned\n", len(pruned))
		return nil
	}
	replacement, err := m.Revoke(ctx, rest[0])
	if replacement != nil {
		fmt.Fprintf(stdout, "new signing key %s is current\n", replacement.ID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signing key %s revoked: the tokens it signed no longer verify; %s\n", rest[0], reloadHint(*cfg))
	return nil
}

// newSecret prints a fresh key-encryption secret on stdout, base64 as
// AUTHD_KEY_ENCRYPTION_KEY wants it, and on stderr how to use it.
func newSecret(stdout, stderr io.Writer) error {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(secret))
	fmt.Fprintln(stderr, "Give every instance the same secret: AUTHD_KEY_ENCRYPTION_KEY=<the line above>, or\n"+
		"--key-encryption-key-file FILE holding the decoded bytes (authd keys new-secret | base64 -d > FILE; chmod 600 FILE).\n"+
		"Keep it out of the database's backups: it seals the signing keys stored there.")
	return nil
}

// reloadHint says when running instances see a key change.
func reloadHint(cfg server.Config) string {
	if cfg.Shared() {
		return "instances verify new keys at once, and sign with them or drop revoked ones at SIGHUP or their next reload (every minute)"
	}
	return "a running authd picks it up at SIGHUP or its next reload (every minute)"
}

// listKeys prints each key (newest first), when it signs from, and its
// state: next (published, signs from its activation), current (signs),
// verify-only until the tokens it signed have expired, or expired (pruned
// by the next `authd keys prune`, start or SIGHUP).
func listKeys(states []keys.State, now time.Time, stdout io.Writer) error {
	if len(states) == 0 {
		fmt.Fprintln(stdout, "no signing keys yet: the first authd serve creates one")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSIGNS FROM\tSTATE")
	for _, s := range states {
		state := "current"
		switch {
		case s.Next:
			state = "next: published, signs from " + s.Key.SignsFrom().Format(time.RFC3339)
		case s.Expired(now):
			state = "expired"
		case !s.Current:
			state = "verify-only until " + s.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Key.ID, token.EdDSA, s.Key.Created.Format(time.RFC3339), s.Key.SignsFrom().Format(time.RFC3339), state)
	}
	return tw.Flush()
}

// kidsArePositional moves a key id that begins with "-" (RFC 7638
// thumbprints do, one time in 64) behind "--", so that `authd keys revoke
// -1wCK…` revokes it instead of reading an unknown flag: an operator
// revoking a compromised key must not be sent to the help. A key id is 43
// base64url characters, which no flag of authd's is.
func kidsArePositional(args []string) []string {
	var flags, kids []string
	rest := args
	if i := slices.Index(args, "--"); i >= 0 {
		rest, kids = args[:i], slices.Clone(args[i+1:])
	}
	for _, a := range rest {
		if strings.HasPrefix(a, "-") && isKeyID(a) {
			kids = append(kids, a)
			continue
		}
		flags = append(flags, a)
	}
	if len(kids) == 0 {
		return args
	}
	return append(append(flags, "--"), kids...)
}

// isKeyID reports whether s is shaped like authd's key ids: the 43
// base64url characters of a SHA-256 thumbprint.
func isKeyID(s string) bool {
	if len(s) != 43 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
