package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// accountFlags are the flags of the commands that change accounts: where
// the data is, and the hashing cost.
type accountFlags struct {
	cfg     server.Config
	kekFile string
}

func (a *accountFlags) register(fs *flag.FlagSet) {
	a.cfg = server.Defaults()
	storeFlags(fs, &a.cfg, &a.kekFile)
	hashFlags(fs, &a.cfg)
}

// open returns the accounts of the configured store. Sessions are ended
// through a session engine that announces them on the Redis feed when
// there is one, so running instances and consumers hear of them now
// rather than at their next check (the store already holds the truth).
// done closes what open opened.
func (a *accountFlags) open(ctx context.Context, stdout io.Writer) (m *accounts.Manager, st store.Store, done func(), err error) {
	h, err := hasher(a.cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	if st, err = a.cfg.OpenStore(ctx); err != nil {
		return nil, nil, nil, usageIfConfig(err)
	}
	feed, err := a.cfg.OpenRedis(ctx)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	var onRevoke func(ctx context.Context, sids ...string)
	if feed != nil {
		onRevoke = func(ctx context.Context, sids ...string) {
			if len(sids) == 0 {
				sids = []string{redisfeed.AllSessions}
			}
			for _, sid := range sids {
				if err := redisfeed.Publish(ctx, feed, sid); err != nil {
					fmt.Fprintf(stdout, "warning: revocation feed: %v (services will notice within their poll interval)\n", err)
				}
			}
		}
	}
	// An engine without a signer: the CLI ends sessions, never opens them.
	engine, err := session.New(st, session.Config{OnRevoke: onRevoke})
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	done = func() {
		if feed != nil {
			feed.Close()
		}
		st.Close()
	}
	return accounts.New(st, h, accounts.Config{Sessions: engine}), st, done, nil
}

// usageIfInvalid marks the accounts' refusals of bad input as usage errors.
func usageIfInvalid(err error) error {
	var refusal *wire.Error
	if errors.As(err, &refusal) && refusal.Code == codes.InvalidArgument {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}
