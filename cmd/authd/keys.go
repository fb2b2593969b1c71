package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/authd-dev/authd/service"
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

// reloadSlack covers a running authd that picks a rotated key up late.
const reloadSlack = time.Hour

// keep is how long after its retirement a key keeps verifying: the longest
// token lifetime, plus clock leeway and a late reload.
func (l keyLifetimes) keep() time.Duration {
	return max(l.accessTTL, l.refreshTTL) + token.MaxLeeway + reloadSlack
}

func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authd keys", stderr)
	var sf storeFlags
	var life keyLifetimes
	sf.register(fs)
	life.register(fs)
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: keys needs one subcommand: list, rotate or prune", errUsage)
	}
	if sf.shared() {
		return dbKeysCommand(ctx, &sf, life, positional[0], stdout)
	}
	switch positional[0] {
	case "list":
		ring, err := sf.loadKeyring()
		if err != nil {
			return err
		}
		current, _ := ring.SigningKey()
		return listKeys(ring.Keys(), current, life.keep(), time.Now(), stdout)
	case "rotate":
		if _, err := sf.loadKeyring(); err != nil {
			return err
		}
		key, err := token.AddKeyFile(sf.keyDir(), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s is current; send SIGHUP to a running authd (or restart it) to use it\n", key.ID)
		return nil
	case "prune":
		_, pruned, err := token.PruneKeyDir(sf.keyDir(), time.Now(), life.keep())
		if err != nil {
			return err
		}
		for _, k := range pruned {
			printPruned(stdout, k)
		}
		fmt.Fprintf(stdout, "%d key(s) pruned\n", len(pruned))
		return nil
	}
	return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, positional[0])
}

func printPruned(stdout io.Writer, k token.Key) {
	fmt.Fprintf(stdout, "pruned %s (created %s)\n", k.ID, k.Created.Format(time.RFC3339))
}

// listKeys prints each key (newest first) and its state: current (signs),
// verify-only until the tokens it signed have expired, or expired (pruned
// by the next `authd keys prune`, start or SIGHUP).
func listKeys(keys []token.Key, current string, keep time.Duration, now time.Time, stdout io.Writer) error {
	retired := token.Retirements(keys)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
	for _, k := range keys {
		state := "current"
		if k.ID != current {
			until := retired[k.ID].Add(keep)
			state = "verify-only until " + until.Format(time.RFC3339)
			if !now.Before(until) {
				state = "expired"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, token.EdDSA, k.Created.Format(time.RFC3339), state)
	}
	return tw.Flush()
}

// loadServingKeys prunes expired keys, then loads (or on first start
// creates) the keyring.
func loadServingKeys(dir string, keep time.Duration, logger *slog.Logger) (*token.Keyring, error) {
	_, pruned, err := token.PruneKeyDir(dir, time.Now(), keep)
	if err != nil {
		return nil, err
	}
	for _, k := range pruned {
		logger.Info("pruned a retired signing key: every token it signed has expired", "kid", k.ID)
	}
	return token.LoadKeyDir(dir, time.Now())
}

// dbKeysCommand is `authd keys` on a shared database, where the keys live.
func dbKeysCommand(ctx context.Context, sf *storeFlags, life keyLifetimes, sub string, stdout io.Writer) error {
	st, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		sealed, err := st.SigningKeys(ctx)
		if err != nil {
			return err
		}
		if len(sealed) == 0 {
			fmt.Fprintln(stdout, "no signing keys yet: the first authd serve creates one")
			return nil
		}
		// Every stored key can sign: the newest is current.
		keys := publicKeys(sealed)
		return listKeys(keys, keys[0].ID, life.keep(), time.Now(), stdout)
	case "rotate":
		kek, err := sf.keyEncryptionKey()
		if err != nil {
			return err
		}
		// Check the secret opens the keys already there: a wrong one would
		// leave instances unable to read the new key.
		if _, err := loadDBKeys(ctx, st, kek); err != nil {
			return err
		}
		key, err := addDBKey(ctx, st, kek, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s is current; instances sign with it after SIGHUP or their hourly reload, and verify it at once\n", key.ID)
		return nil
	case "prune":
		sealed, err := st.SigningKeys(ctx)
		if err != nil {
			return err
		}
		n := 0
		if _, err := pruneDBKeys(ctx, st, publicKeys(sealed), life.keep(), func(k token.Key) { printPruned(stdout, k); n++ }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d key(s) pruned\n", n)
		return nil
	}
	return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, sub)
}
