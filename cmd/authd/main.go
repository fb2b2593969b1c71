// Command authd is the authentication service: `authd serve` runs it, `authd
// user` and `authd keys` manage its users and signing keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
  authd user list [flags]             list users
  authd client add NAME [--scope S]...
                                      add a service account; prints client_id and client_secret once
  authd client list|disable|enable|rotate-secret [NAME]
                                      manage service accounts (disable and rotate-secret revoke their tokens)
  authd keys list [flags]             list signing keys
  authd keys rotate [flags]           make a new signing key current
  authd keys prune [flags]            delete retired keys whose tokens have all expired
  authd keys revoke KID [flags]       delete a (compromised) key at once; a new key if it was current

Every flag can also be set as AUTHD_<FLAG> in the environment (--data-dir is
AUTHD_DATA_DIR); a flag on the command line wins. Run "authd serve --help"
for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks an error in how authd was called (exit code 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "authd: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "authd: %v\n", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "user":
		return userCommand(ctx, rest, stdin, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, stdout, stderr)
	case "client":
		return clientCommand(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
