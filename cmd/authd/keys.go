package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/authd-dev/authd/token"
)

func keysCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("authd keys", stderr)
	var sf storeFlags
	sf.register(fs)
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return fmt.Errorf("%w: keys needs one subcommand: list or rotate", errUsage)
	}
	switch positional[0] {
	case "list":
		ring, err := sf.loadKeyring()
		if err != nil {
			return err
		}
		return listKeys(ring, stdout)
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
	}
	return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, positional[0])
}

func listKeys(ring *token.Keyring, stdout io.Writer) error {
	current, _ := ring.SigningKey()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSTATE")
	for _, k := range ring.Keys() {
		state := "verify-only"
		if k.ID == current {
			state = "current"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, token.EdDSA, k.Created.Format(time.RFC3339), state)
	}
	return tw.Flush()
}
