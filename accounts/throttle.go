package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/authd-dev/authd/store"
)

// ThrottleRule slows down failed login attempts counted under one kind of
// key: the first Free cost nothing, then each further attempt must wait
// Base, doubled per failure, at most Max, after the last attempt. Attempts
// in flight count as failures until settled, so that no more are checked
// at once than Free allows; or, with InFlight set, at most InFlight may be
// in flight at once, apart from the failures (store.ThrottleLimit).
type ThrottleRule struct {
	Free     int
	Base     time.Duration
	Max      time.Duration
	InFlight int
}

func (r ThrottleRule) limit(key string) store.ThrottleLimit {
	return store.ThrottleLimit{Key: key, Free: r.Free, Base: r.Base, Max: r.Max, InFlight: r.InFlight}
}

// ThrottlePolicy is the login-throttling policy. Attempts are counted per
// (account, client address), per client address and per account; a
// counter idle for Window is forgotten, and a successful login clears the
// account's counters. No rule locks an account out for long: the longest
// wait is AccountAddress.Max, for the one client that keeps guessing; the
// per-account rule, which anyone can push, waits at most a minute; the
// per-address rule, which everyone behind one NAT or proxy shares, is a
// slowdown of seconds, and bounds the attempts in flight from one address
// apart from its failures, so that many honest logins at once are not
// taken for failures.
type ThrottlePolicy struct {
	Window         time.Duration
	AccountAddress ThrottleRule // one client guessing one account's password
	Address        ThrottleRule // one client spraying many accounts
	Account        ThrottleRule // many clients guessing one account
}

// DefaultThrottlePolicy: 5 free failures per account and address (attempts
// in flight counted as failures), then 1 s doubling to 15 min; 20 per
// address, then at most 10 s between attempts, and at most 64 attempts in
// flight at once from one address; 100 per account (attempts in flight
// counted as failures), then at most 1 min.
var DefaultThrottlePolicy = ThrottlePolicy{
	Window:         time.Hour,
	AccountAddress: ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute},
	Address:        ThrottleRule{Free: 20, Base: time.Second, Max: 10 * time.Second, InFlight: 64},
	Account:        ThrottleRule{Free: 100, Base: time.Second, Max: time.Minute},
}

// throttleKeys are the counters one attempt touches.
type throttleKeys struct {
	accountAddress, address, account string
}

func (k throttleKeys) all() []string { return []string{k.accountAddress, k.address, k.account} }

// accountOnly returns the counters a successful attempt clears: not the
// address's, or a client could reset its own by logging in to an account
// it owns between guesses.
func (k throttleKeys) accountOnly() []string { return []string{k.accountAddress, k.account} }

// newThrottleKeys are the counters of an attempt for name from addr. The
// name is counted by its key (store.NameKey), so that "Alice" and "ALICE",
// one account, share their counters.
func newThrottleKeys(name, addr string) throttleKeys {
	name = store.NameKey(name)
	return throttleKeys{
		// The name's length keeps the pair unambiguous whatever it holds.
		accountAddress: fmt.Sprintf("u+a:%d:%s@%s", len(name), name, addr),
		address:        "a:" + addr,
		account:        "u:" + name,
	}
}

func (p ThrottlePolicy) limits(k throttleKeys) []store.ThrottleLimit {
	return []store.ThrottleLimit{
		p.AccountAddress.limit(k.accountAddress), p.Address.limit(k.address), p.Account.limit(k.account),
	}
}

// reserve counts the attempt in flight before its secret is checked, so
// that however many arrive at once no more are checked than the policy
// allows. It returns the refusal when the attempt may not go ahead.
func (m *Manager) reserve(ctx context.Context, attempt string, k throttleKeys) (store.ThrottleWait, error) {
	now := m.cfg.Clock.Now()
	return m.counters.ReserveLoginAttempt(ctx, attempt, m.cfg.Throttle.limits(k), now, now.Add(-m.cfg.Throttle.Window))
}

// settle records how a reserved attempt ended: it is no longer in flight;
// a failure is counted, a success clears the account's counters, anything
// else (the hash was busy, the store failed) only ends the attempt.
func (m *Manager) settle(ctx context.Context, attempt string, k throttleKeys, failed, succeeded bool) error {
	var clear []string
	if succeeded {
		clear = k.accountOnly()
	}
	return m.counters.FinishLoginAttempt(context.WithoutCancel(ctx), attempt, k.all(), failed, clear, m.cfg.Clock.Now())
}
