package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd-dev/authd/accounts"
)

// clientCommand manages service accounts: `authd client add NAME --scope S`
// prints the client id and the secret (once), `list`, `disable`, `enable`
// and `rotate-secret` do what they say.
// clientArgs are the flags of `authd client`.
type clientArgs struct {
	accountFlags
	scopes         nameList
	requireBinding bool
	off            bool
}

// clientFlags are `authd client`'s flags.
func clientFlags() (*flag.FlagSet, *clientArgs) {
	fs := newFlagSet("authd client")
	c := &clientArgs{}
	c.accountFlags.register(fs)
	fs.Var(&c.scopes, "scope", "with add: a scope the client may ask for (repeatable)")
	fs.BoolVar(&c.requireBinding, "require-binding", false, "with add: the client gets only bound tokens (a DPoP proof, or its client certificate over mutual TLS)")
	fs.BoolVar(&c.off, "off", false, "with require-binding: allow the client bearer tokens again")
	return fs, c
}

func clientCommand(ctx context.Context, args []string, e env, stdout, stderr io.Writer) error {
	fs, c := clientFlags()
	af := &c.accountFlags
	positional, err := parse(fs, args, e)
	if err != nil {
		return err
	}
	sub, names, err := subcommands{
		cmd: "client", noun: "name", list: "add, list, disable, enable, rotate-secret, require-binding",
		arity: map[string]int{"add": 1, "list": 0, "disable": 1, "enable": 1, "rotate-secret": 1, "require-binding": 1},
	}.split(positional)
	if err != nil {
		return err
	}
	scopes := c.scopes // read after parse, which fills it
	switch {
	case len(scopes) > 0 && sub != "add":
		return fmt.Errorf("%w: --scope goes with client add", errUsage)
	case c.requireBinding && sub != "add":
		return fmt.Errorf("%w: --require-binding goes with client add (use client require-binding NAME)", errUsage)
	case c.off && sub != "require-binding":
		return fmt.Errorf("%w: --off goes with client require-binding", errUsage)
	}
	requireBinding, off := c.requireBinding, c.off
	m, _, done, err := af.open(ctx, stdout)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "add":
		c, secret, err := m.CreateClient(ctx, names[0], scopes)
		if err != nil {
			return usageIfInvalid(err)
		}
		if requireBinding {
			if err := m.SetClientRequireBinding(ctx, names[0], true); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "client_id: %s\nclient_secret: %s\n", c.ClientID, secret)
		fmt.Fprintln(stderr, "The secret is shown once: authd keeps only its hash.")
		return nil
	case "list":
		clients, err := m.Clients(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tCLIENT_ID\tSTATUS\tCREATED\tSCOPES\tBINDING")
		for _, c := range clients {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", accounts.ClientName(c), c.ClientID, enabled(c.Disabled), c.CreatedAt.Format(time.RFC3339), strings.Join(c.Scopes, ","), binding(c.RequireBinding))
		}
		return tw.Flush()
	case "disable", "enable":
		n, err := m.SetClientDisabled(ctx, names[0], sub == "disable")
		if err != nil {
			return err
		}
		if sub == "enable" {
			fmt.Fprintf(stdout, "client %q enabled\n", names[0])
			return nil
		}
		fmt.Fprintf(stdout, "client %q disabled; %d token(s) revoked\n", names[0], n)
		return nil
	}
	if sub == "require-binding" {
		if err := m.SetClientRequireBinding(ctx, names[0], !off); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %q: %s tokens\n", names[0], binding(!off))
		return nil
	}
	secret, revoked, err := m.RotateClientSecret(ctx, names[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "client_secret: %s\n", secret)
	fmt.Fprintf(stderr, "The old secret no longer works; %d token(s) issued with it revoked.\n", revoked)
	return nil
}

// binding names what a client's tokens must be.
func binding(required bool) string {
	if required {
		return "bound"
	}
	return "bearer"
}
