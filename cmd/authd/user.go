package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("authd user", stderr)
	var af accountFlags
	af.register(fs)
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
	switch sub {
	case "add", "passwd", "disable", "enable", "roles", "list":
	default:
		return fmt.Errorf("%w: unknown user subcommand %q", errUsage, sub)
	}
	switch {
	case len(names) != wantNames:
		return fmt.Errorf("%w: user %s takes %d name(s), got %d", errUsage, sub, wantNames, len(names))
	case len(roles) > 0 && sub != "add":
		return fmt.Errorf("%w: --role goes with user add (use user roles NAME --add R)", errUsage)
	case len(addRoles)+len(removeRoles) > 0 && sub != "roles":
		return fmt.Errorf("%w: --add and --remove go with user roles", errUsage)
	}
	if err := token.ValidateNames(roles); err != nil {
		return fmt.Errorf("%w: --role: %v", errUsage, err)
	}
	m, st, done, err := af.open(ctx, stdout)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "list":
		return listUsers(ctx, st, stdout)
	case "roles":
		if len(addRoles)+len(removeRoles) == 0 {
			u, err := m.User(ctx, names[0])
			for _, r := range u.Roles {
				fmt.Fprintln(stdout, r)
			}
			return err
		}
		u, n, err := m.ChangeRoles(ctx, names[0], addRoles, removeRoles)
		if err != nil {
			return usageIfInvalid(err)
		}
		fmt.Fprintf(stdout, "user %q now has roles [%s]; %d session(s) revoked\n", u.Name, strings.Join(u.Roles, " "), n)
		return nil
	case "disable", "enable":
		if _, err := m.User(ctx, names[0]); err != nil {
			return err
		}
		n, err := m.SetDisabled(ctx, names[0], sub == "disable")
		if err != nil {
			return err
		}
		if sub == "disable" {
			fmt.Fprintf(stdout, "user %q disabled; %d session(s) revoked\n", names[0], n)
		} else {
			fmt.Fprintf(stdout, "user %q enabled\n", names[0])
		}
		return nil
	}

	name := names[0]
	if err := accounts.ValidateUsername(name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	// Refuse early, before asking for a password.
	_, err = m.User(ctx, name)
	switch {
	case sub == "add" && err == nil:
		return fmt.Errorf("user %q already exists", name)
	case sub != "add" && err != nil:
		return err
	}
	pw, err := readPassword(stdin, stderr, *passwordStdin)
	if err != nil {
		return err
	}
	if sub == "add" {
		if _, err := m.CreateUser(ctx, name, pw, roles); err != nil {
			if errors.Is(err, wire.ErrExists) {
				return fmt.Errorf("user %q already exists", name)
			}
			return usageIfInvalid(err)
		}
		fmt.Fprintf(stdout, "user %q added\n", name)
		return nil
	}
	n, err := m.SetPassword(ctx, name, pw)
	if err != nil {
		return usageIfInvalid(err)
	}
	fmt.Fprintf(stdout, "user %q password changed; %d session(s) revoked\n", name, n)
	return nil
}

// nameList is a repeatable flag of role or scope names.
type nameList []string

func (n *nameList) String() string { return strings.Join(*n, " ") }

func (n *nameList) Set(v string) error {
	*n = append(*n, v)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, enabled(u.Disabled), u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339), strings.Join(u.Roles, ","))
	}
	return tw.Flush()
}

func enabled(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
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
	if err := accounts.ValidatePassword(pw); err != nil {
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
