package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// keyLifetimes are the flags that tell how long a retired key must keep
// verifying: until every token it signed has expired.
type keyLifetimes struct {
	accessTTL, refreshTTL time.Duration
}

func (l *keyLifetimes) register(fs *flag.FlagSet) {
	fs.DurationVar(&l.accessTTL, "access-ttl", service.DefaultAccessTTL, "access-token lifetime")
	fs.DurationVar(&l.refreshTTL, "refresh-ttl", service.DefaultRefreshTTL, "refresh-token idle lifetime, restarted by each refresh")
}

func (l keyLifetimes) keep() time.Duration { return keys.Keep(l.accessTTL, l.refreshTTL) }

// keyBackend is where the signing keys live: sealed in a shared database,
// else files in the data dir. The database needs the key-encryption secret
// only to open or add keys (needSecret).
func (s *storeFlags) keyBackend(st store.SigningKeys, needSecret bool) (keys.Backend, error) {
	if !s.shared() {
		return keys.Dir(s.keyDir()), nil
	}
	if !needSecret {
		return keys.Database(st, nil), nil
	}
	kek, err := s.keyEncryptionKey()
	if err != nil {
		return nil, err
	}
	return keys.Database(st, kek), nil
}

func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authd keys")
	var sf storeFlags
	var life keyLifetimes
	sf.register(fs)
	life.register(fs)
	positional, err := parse(fs, args)
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
	st, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	backend, err := sf.keyBackend(st, sub == "rotate" || sub == "revoke")
	if err != nil {
		return err
	}
	m := keys.NewManager(backend, keys.WithKeep(life.keep()), keys.WithLogger(slog.New(slog.DiscardHandler)))
	if !sf.shared() && (sub == "list" || sub == "rotate") {
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
		key, err := m.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s is current; %s\n", key.ID, reloadHint(&sf))
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
	fmt.Fprintf(stdout, "signing key %s revoked: the tokens it signed no longer verify; %s\n", rest[0], reloadHint(&sf))
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
func reloadHint(sf *storeFlags) string {
	if sf.shared() {
		return "instances verify new keys at once, and sign with them or drop revoked ones at SIGHUP or their next reload (every minute)"
	}
	return "a running authd picks it up at SIGHUP or its next reload (every minute)"
}

// listKeys prints each key (newest first) and its state: current (signs),
// verify-only until the tokens it signed have expired, or expired (pruned
// by the next `authd keys prune`, start or SIGHUP).
func listKeys(states []keys.State, now time.Time, stdout io.Writer) error {
	if len(states) == 0 {
		fmt.Fprintln(stdout, "no signing keys yet: the first authd serve creates one")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
	for _, s := range states {
		state := "current"
		switch {
		case s.Expired(now):
			state = "expired"
		case !s.Current:
			state = "verify-only until " + s.Until.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key.ID, token.EdDSA, s.Key.Created.Format(time.RFC3339), state)
	}
	return tw.Flush()
}
