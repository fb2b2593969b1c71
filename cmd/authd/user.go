package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"golang.org/x/term"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/token"
)

// userArgs are the flags and arguments of `authd user`.
type userArgs struct {
	accountFlags
	passwordStdin, reset         bool
	roles, addRoles, removeRoles nameList
	sub, name                    string
}

func userCommand(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	u, err := parseUserArgs(args, e)
	if err != nil {
		return err
	}
	m, _, done, err := u.open(ctx, stdout)
	if err != nil {
		return err
	}
	defer done()
	switch u.sub {
	case "list":
		return listUsers(ctx, m, stdout)
	case "roles":
		return u.changeRoles(ctx, m, stdout)
	case "disable", "enable":
		return u.setEnabled(ctx, m, stdout)
	case "mfa":
		return u.secondFactors(ctx, m, stdout)
	}
	return u.setPassword(ctx, m, stdin, stdout, stderr)
}

// userFlags are `authd user`'s flags.
func userFlags() (*flag.FlagSet, *userArgs) {
	fs := newFlagSet("authd user")
	u := &userArgs{}
	u.accountFlags.register(fs)
	fs.BoolVar(&u.passwordStdin, "password-stdin", false, "read the password from standard input (one line, its newline stripped)")
	fs.Var(&u.roles, "role", "with add: a role of the new user (repeatable)")
	fs.Var(&u.addRoles, "add", "with roles: a role to give the user (repeatable)")
	fs.Var(&u.removeRoles, "remove", "with roles: a role to take from the user (repeatable)")
	fs.BoolVar(&u.reset, "reset", false, "with mfa: remove the user's TOTP authenticator, recovery codes and passkeys")
	return fs, u
}

func parseUserArgs(args []string, e env) (*userArgs, error) {
	fs, u := userFlags()
	positional, err := parse(fs, args, e)
	if err != nil {
		return nil, err
	}
	sub, names, err := subcommands{
		cmd: "user", noun: "name", list: "add, passwd, disable, enable, roles, mfa, list",
		arity: map[string]int{"add": 1, "passwd": 1, "disable": 1, "enable": 1, "roles": 1, "mfa": 1, "list": 0},
	}.split(positional)
	if err != nil {
		return nil, err
	}
	u.sub = sub
	switch {
	case len(u.roles) > 0 && u.sub != "add":
		return nil, fmt.Errorf("%w: --role goes with user add (use user roles NAME --add R)", errUsage)
	case len(u.addRoles)+len(u.removeRoles) > 0 && u.sub != "roles":
		return nil, fmt.Errorf("%w: --add and --remove go with user roles", errUsage)
	case u.reset && u.sub != "mfa":
		return nil, fmt.Errorf("%w: --reset goes with user mfa", errUsage)
	}
	if err := token.ValidateNames(u.roles); err != nil {
		return nil, fmt.Errorf("%w: --role: %v", errUsage, err)
	}
	if len(names) == 1 {
		u.name = names[0]
	}
	return u, nil
}

// changeRoles lists the user's roles, or changes them and ends the user's
// sessions.
func (u *userArgs) changeRoles(ctx context.Context, m *accounts.Manager, stdout io.Writer) error {
	if len(u.addRoles)+len(u.removeRoles) == 0 {
		user, err := m.User(ctx, u.name)
		for _, r := range user.Roles {
			fmt.Fprintln(stdout, r)
		}
		return err
	}
	user, n, err := m.ChangeRoles(ctx, u.name, u.addRoles, u.removeRoles)
	if err != nil {
		return usageIfInvalid(err)
	}
	fmt.Fprintf(stdout, "user %q now has roles [%s]; %d session(s) revoked\n", user.Name, strings.Join(user.Roles, " "), n)
	return nil
}

func (u *userArgs) setEnabled(ctx context.Context, m *accounts.Manager, stdout io.Writer) error {
	if _, err := m.User(ctx, u.name); err != nil {
		return err
	}
	n, err := m.SetDisabled(ctx, u.name, u.sub == "disable")
	if err != nil {
		return err
	}
	if u.sub == "disable" {
		fmt.Fprintf(stdout, "user %q disabled; %d session(s) revoked\n", u.name, n)
	} else {
		fmt.Fprintf(stdout, "user %q enabled\n", u.name)
	}
	return nil
}

// setPassword adds the user (add) or replaces its password (passwd),
// asking for the password only once the name is known to be right.
func (u *userArgs) setPassword(ctx context.Context, m *accounts.Manager, stdin io.Reader, stdout, stderr io.Writer) error {
	if u.sub == "add" {
		name, err := accounts.NewUsername(u.name)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		u.name = name
	} else if err := accounts.ValidateUsername(u.name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	_, err := m.User(ctx, u.name)
	switch {
	case u.sub == "add" && err == nil:
		return fmt.Errorf("user %q already exists", u.name)
	case u.sub != "add" && err != nil:
		return err
	}
	pw, err := readPassword(stdin, stderr, u.passwordStdin)
	if err != nil {
		return err
	}
	if u.sub == "add" {
		if _, err := m.CreateUser(ctx, u.name, pw, u.roles); err != nil {
			if errors.Is(err, accounts.ErrExists) {
				return fmt.Errorf("user %q already exists", u.name)
			}
			return usageIfInvalid(err)
		}
		fmt.Fprintf(stdout, "user %q added\n", u.name)
		return nil
	}
	n, err := m.SetPassword(ctx, u.name, pw)
	if err != nil {
		return usageIfInvalid(err)
	}
	fmt.Fprintf(stdout, "user %q password changed; %d session(s) revoked\n", u.name, n)
	return nil
}

// nameList is a repeatable flag of role or scope names.
type nameList []string

func (n *nameList) String() string { return strings.Join(*n, " ") }

func (n *nameList) Set(v string) error {
	*n = append(*n, v)
	return nil
}

func listUsers(ctx context.Context, m *accounts.Manager, stdout io.Writer) error {
	users, err := m.Users(ctx, "", 0)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSECOND_FACTOR\tCREATED\tUPDATED\tROLES")
	for _, u := range users {
		name := u.Name
		if strings.ContainsFunc(name, unicode.IsSpace) {
			name = strconv.Quote(name) // one column, however many words
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, enabled(u.Disabled), yesNo(u.SecondFactor), u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339), strings.Join(u.Roles, ","))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// secondFactors shows whether the user has a second factor and how many
// recovery codes are left, or with --reset removes them all.
func (u *userArgs) secondFactors(ctx context.Context, m *accounts.Manager, stdout io.Writer) error {
	user, err := m.User(ctx, u.name)
	if err != nil {
		return err
	}
	if u.reset {
		n, err := m.ResetSecondFactors(ctx, u.name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %q: %d second factor(s) removed; the next login needs only the password\n", u.name, n)
		return nil
	}
	left, err := m.RecoveryCodesLeft(ctx, u.name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "second factor: %s\nrecovery codes left: %d\n", yesNo(user.SecondFactor), left)
	return nil
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
	// A refused password is not a usage error: the command was right.
	if err := accounts.ValidatePassword(pw); err != nil {
		return "", err
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
