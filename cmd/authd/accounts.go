package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// accountFlags are the flags of the commands that change accounts.
type accountFlags struct {
	storeFlags
	hashFlags
}

func (a *accountFlags) register(fs *flag.FlagSet) {
	a.storeFlags.register(fs)
	a.hashFlags.register(fs)
}

// open returns the accounts of the configured store. Revocations are
// announced on the Redis feed when there is one, so running instances and
// consumers hear of them now rather than at their next check (the store
// already holds the truth). done closes what open opened.
func (a *accountFlags) open(ctx context.Context, stdout io.Writer) (m *accounts.Manager, st store.Store, done func(), err error) {
	hasher, err := a.hasher()
	if err != nil {
		return nil, nil, nil, err
	}
	if st, err = a.openStore(ctx); err != nil {
		return nil, nil, nil, err
	}
	feed, err := a.openRedis(ctx)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	var opts []accounts.Option
	if feed != nil {
		opts = append(opts, accounts.WithRevocationHook(func(ctx context.Context, sids ...string) {
			if len(sids) == 0 {
				sids = []string{redisfeed.AllSessions}
			}
			for _, sid := range sids {
				if err := redisfeed.Publish(ctx, feed, sid); err != nil {
					fmt.Fprintf(stdout, "warning: revocation feed: %v (services will notice within their poll interval)\n", err)
				}
			}
		}))
	}
	done = func() {
		if feed != nil {
			feed.Close()
		}
		st.Close()
	}
	return accounts.New(st, hasher, opts...), st, done, nil
}

// usageIfInvalid marks the accounts' refusals of bad input as usage errors.
func usageIfInvalid(err error) error {
	var invalid *wire.InvalidArgumentError
	if errors.As(err, &invalid) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}
