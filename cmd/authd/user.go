package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("authd user", stderr)
	var sf storeFlags
	var hf hashFlags
	sf.register(fs)
	hf.register(fs)
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input (one line, its newline stripped)")
	var roles, addRoles, removeRoles nameList
	fs.Var(&roles, "role", "with add: a role of the new user (repeatable)")
	fs.Var(&addRoles, "add", "with roles: a role to give the user (repeatable)")
	fs.Var(&removeRoles, "remove", "with roles: a role to take from the user (repeatable)")
	positional, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(positional) == 0 {
		return fmt.Errorf("%w: user needs a subcommand: add, passwd, disable, enable, roles, list", errUsage)
	}
	sub, names := positional[0], positional[1:]
	wantNames := 1
	if sub == "list" {
		wantNames = 0
	}
	if len(names) != wantNames {
		return fmt.Errorf("%w: user %s takes %d name(s), got %d", errUsage, sub, wantNames, len(names))
	}
	switch sub {
	case "add", "passwd", "disable", "enable", "roles", "list":
	default:
		return fmt.Errorf("%w: unknown user subcommand %q", errUsage, sub)
	}
	switch {
	case len(roles) > 0 && sub != "add":
		return fmt.Errorf("%w: --role goes with user add (use user roles NAME --add R)", errUsage)
	case len(addRoles)+len(removeRoles) > 0 && sub != "roles":
		return fmt.Errorf("%w: --add and --remove go with user roles", errUsage)
	}
	if err := token.ValidateNames(roles); err != nil {
		return fmt.Errorf("%w: --role: %v", errUsage, err)
	}
	st, err := sf.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	feed, err := sf.openRedis(ctx)
	if err != nil {
		return err
	}
	if feed != nil {
		defer feed.Close()
	}
	now := time.Now()

	switch sub {
	case "list":
		return listUsers(ctx, st, stdout)
	case "roles":
		return userRoles(ctx, st, feed, stdout, names[0], addRoles, removeRoles)
	case "disable", "enable":
		disable := sub == "disable"
		if err := st.SetDisabled(ctx, names[0], disable, now); err != nil {
			return err
		}
		if disable {
			return revokeAll(ctx, st, feed, stdout, names[0], "disabled")
		}
		fmt.Fprintf(stdout, "user %q enabled\n", names[0])
		return nil
	}

	name := names[0]
	if err := service.ValidateUsername(name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if sub == "add" {
		// Refuse early, before asking for a password.
		if _, err := st.UserByName(ctx, name); err == nil {
			return fmt.Errorf("user %q already exists", name)
		}
	} else if _, err := st.UserByName(ctx, name); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr, *passwordStdin)
	if err != nil {
		return err
	}
	hasher, err := hf.hasher()
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	if sub == "add" {
		if _, err := st.CreateUser(ctx, name, hash, now); err != nil {
			if errors.Is(err, store.ErrExists) {
				return fmt.Errorf("user %q already exists", name)
			}
			return err
		}
		if len(roles) > 0 {
			if err := st.SetRoles(ctx, name, roles, now); err != nil {
				return fmt.Errorf("user %q added without roles: %w", name, err)
			}
		}
		fmt.Fprintf(stdout, "user %q added\n", name)
		return nil
	}
	if err := st.SetPassword(ctx, name, hash, now); err != nil {
		return err
	}
	return revokeAll(ctx, st, feed, stdout, name, "password changed")
}

// userRoles lists a user's roles or, with add or remove, changes them and
// ends the user's sessions, so that no token outlives its roles by more
// than the revocation bound.
func userRoles(ctx context.Context, st store.Store, feed *redis.Client, stdout io.Writer, name string, add, remove []string) error {
	u, err := st.UserByName(ctx, name)
	if err != nil {
		return err
	}
	if len(add)+len(remove) == 0 {
		for _, r := range u.Roles {
			fmt.Fprintln(stdout, r)
		}
		return nil
	}
	next := slices.Clone(u.Roles)
	for _, r := range remove {
		i := slices.Index(next, r)
		if i < 0 {
			return fmt.Errorf("%w: user %q has no role %q (roles: %s)", errUsage, name, r, strings.Join(u.Roles, " "))
		}
		next = slices.Delete(next, i, i+1)
	}
	for _, r := range add {
		if !slices.Contains(next, r) {
			next = append(next, r)
		}
	}
	slices.Sort(next)
	if err := token.ValidateNames(next); err != nil {
		return fmt.Errorf("%w: roles: %v", errUsage, err)
	}
	if err := st.SetRoles(ctx, name, next, time.Now()); err != nil {
		return err
	}
	return revokeAll(ctx, st, feed, stdout, name, "now has roles ["+strings.Join(next, " ")+"]")
}

// nameList is a repeatable flag of role or scope names.
type nameList []string

func (n *nameList) String() string { return strings.Join(*n, " ") }

func (n *nameList) Set(v string) error {
	*n = append(*n, v)
	return nil
}

func revokeAll(ctx context.Context, st store.Store, feed *redis.Client, stdout io.Writer, name, what string) error {
	u, err := st.UserByName(ctx, name)
	if err != nil {
		return err
	}
	n, err := st.RevokeUserSessions(ctx, u.ID, "", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %q %s; %d session(s) revoked\n", name, what, n)
	if feed != nil && n > 0 {
		// Running instances and consumers hear of it now rather than at
		// their next check; the store already holds the truth.
		if err := redisfeed.Publish(ctx, feed, redisfeed.AllSessions); err != nil {
			fmt.Fprintf(stdout, "warning: revocation feed: %v (services will notice within their poll interval)\n", err)
		}
	}
	return nil
}

func listUsers(ctx context.Context, st store.Store, stdout io.Writer) error {
	users, err := st.ListUsers(ctx, "", 0)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tCREATED\tUPDATED\tROLES")
	for _, u := range users {
		state := "enabled"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, state, u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339), strings.Join(u.Roles, ","))
	}
	return tw.Flush()
}

// readPassword reads the new password from stdin (--password-stdin) or from
// a terminal prompt, asked twice.
func readPassword(stdin io.Reader, prompt io.Writer, fromStdin bool) (string, error) {
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, password.MaxLength+2)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	} else {
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", fmt.Errorf("%w: standard input is not a terminal: use --password-stdin", errUsage)
		}
		first, err := prompted(f, prompt, "Password: ")
		if err != nil {
			return "", err
		}
		again, err := prompted(f, prompt, "Repeat password: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("passwords do not match")
		}
		pw = first
	}
	if err := service.ValidatePassword(pw); err != nil {
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	return pw, nil
}

func prompted(f *os.File, prompt io.Writer, label string) (string, error) {
	fmt.Fprint(prompt, label)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}
