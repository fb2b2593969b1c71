// Command authd is the authentication service: `authd serve` runs it, `authd
// user` and `authd keys` manage its users and signing keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"

	"github.com/authd-dev/authd/internal/spell"
)

const usage = `authd — gRPC authentication service

Usage:
  authd serve [flags]                 run the service
  authd user add NAME [--role R]...   add a user (password from a TTY prompt or --password-stdin)
  authd user passwd NAME [flags]      set a user's password and end their sessions
  authd user disable NAME [flags]     refuse a user's logins and end their sessions
  authd user enable NAME [flags]      allow a disabled user again
  authd user roles NAME [--add R]... [--remove R]...
                                      list a user's roles, or change them and end their sessions
  authd user mfa NAME [--reset]       show a user's second factor, or remove it (a lost device)
  authd user list [flags]             list users
  authd client add NAME [--scope S]...
                                      add a service account; prints client_id and client_secret once
  authd client list|disable|enable|rotate-secret [NAME]
                                      manage service accounts (disable and rotate-secret revoke their tokens)
  authd client require-binding NAME [--off]
                                      give a service account only tokens bound to a DPoP key or its certificate
  authd keys list [flags]             list signing keys
  authd keys rotate [flags]           add the next signing key: published at once, signing after
                                      --key-propagation-delay (--now: at once, after a compromise)
  authd keys prune [flags]            delete retired keys whose tokens have all expired
  authd keys revoke KID [flags]       delete a (compromised) key at once; a new key if it was current
  authd keys new-secret               print a fresh key-encryption secret (AUTHD_KEY_ENCRYPTION_KEY)
  authd qr [TEXT]                     print TEXT (or a line of standard input) as a QR code: EnrollTOTP's
                                      uri, for an authenticator app (... EnrollTOTP | jq -r .uri | authd qr)
  authd --version                     print the version and VCS revision authd was built from

Every flag can also be set as AUTHD_<FLAG> in the environment (--data-dir is
AUTHD_DATA_DIR); a flag on the command line wins. Run "authd serve --help"
for the flags of a command.
`

// commands are authd's commands, each with a --help of its own.
var commands = []string{"serve", "user", "client", "keys"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks an error in how authd was called (exit code 2).
var errUsage = errors.New("usage")

// helpRequest is the answer to -h or --help: the help of the command,
// printed on stdout (so that it can be piped) with exit code 0.
type helpRequest struct{ text string }

func (h *helpRequest) Error() string { return flag.ErrHelp.Error() }

// run runs the command of args with the environment e and the standard
// streams given, and returns its exit code: main's whole job, which the
// tests run in-process.
func run(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, e, stdin, stdout, stderr)
	var help *helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprint(stdout, help.text)
		return 0
	case errors.Is(err, errUsage):
		// One line and where to read more: the whole usage would bury
		// the line that says what is wrong.
		hint := "authd --help"
		if len(args) > 0 && slices.Contains(commands, args[0]) {
			hint = "authd " + args[0] + " --help"
		}
		fmt.Fprintf(stderr, "authd: %v\nsee '%s'\n", err, hint)
		return 2
	default:
		fmt.Fprintf(stderr, "authd: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, e env, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, e, stderr)
	case "user":
		return userCommand(ctx, rest, e, stdin, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, e, stdout, stderr)
	case "client":
		return clientCommand(ctx, rest, e, stdout, stderr)
	case "qr":
		return qrCommand(rest, stdin, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
	}
	return fmt.Errorf("%w: unknown command %q%s", errUsage, cmd, didYouMean(cmd, slices.Concat(commands, []string{"qr", "help", "version"}), ""))
}

// subcommands are what `authd <cmd>` takes next, each with the number of
// arguments it wants.
type subcommands struct {
	cmd   string
	arity map[string]int
	noun  string // what the arguments are called: "name" or "argument"
	list  string // the subcommands, as the error for none lists them
}

// split returns positional's subcommand and its arguments, or the usage
// error that says what is wrong: none, an unknown one (with the closest
// known), or the wrong number of arguments.
func (s subcommands) split(positional []string) (string, []string, error) {
	if len(positional) == 0 {
		return "", nil, fmt.Errorf("%w: %s needs a subcommand: %s", errUsage, s.cmd, s.list)
	}
	sub, rest := positional[0], positional[1:]
	n, known := s.arity[sub]
	switch {
	case !known:
		return "", nil, fmt.Errorf("%w: unknown %s subcommand %q%s", errUsage, s.cmd, sub, didYouMean(sub, slices.Collect(maps.Keys(s.arity)), ""))
	case len(rest) != n:
		return "", nil, fmt.Errorf("%w: %s %s takes %d %s(s), got %d", errUsage, s.cmd, sub, n, s.noun, len(rest))
	}
	return sub, rest, nil
}

// didYouMean is ", did you mean X?" for the candidate closest to word (with
// prefix, e.g. "--" for flags), or "" when none is close.
func didYouMean(word string, candidates []string, prefix string) string {
	if c, ok := spell.Closest(word, candidates); ok {
		return "; did you mean " + prefix + c + "?"
	}
	return ""
}

// version is the module version and the VCS revision of the build, as the
// Go toolchain recorded them.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "authd (no build information)"
	}
	v := "authd " + info.Main.Version
	var rev, when, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	switch {
	case rev == "":
		v += " (no VCS revision recorded: built outside a git checkout or with -buildvcs=false)"
	case when != "":
		v += " revision " + rev + modified + " " + when
	default:
		v += " revision " + rev + modified
	}
	return v + " " + info.GoVersion
}
