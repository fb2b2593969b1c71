package service

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"google.golang.org/grpc/peer"
)

// ThrottleRule slows down login failures counted under one kind of key:
// the first Free failures cost nothing, then each further attempt must wait
// Base, doubled per failure, at most Max, after the last failure.
type ThrottleRule struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

// delay is how long after the last of n failures the next attempt waits.
func (r ThrottleRule) delay(n int) time.Duration {
	if n < r.Free {
		return 0
	}
	d := r.Base
	for i := r.Free; i < n && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// ThrottlePolicy is the login-throttling policy. Failures are counted per
// (account, client address), per client address and per account; a
// counter idle for Window is forgotten, and a successful login clears the
// account's counters. No rule locks an account: the longest wait is Max,
// and the per-account rule, which anyone can push, waits at most a minute.
type ThrottlePolicy struct {
	Window         time.Duration
	AccountAddress ThrottleRule // one client guessing one account's password
	Address        ThrottleRule // one client spraying many accounts
	Account        ThrottleRule // many clients guessing one account
}

// DefaultThrottlePolicy: 5 free failures per account and address, then 1 s
// doubling to 15 min; 20 per address; 100 per account, then at most 1 min.
var DefaultThrottlePolicy = ThrottlePolicy{
	Window:         time.Hour,
	AccountAddress: ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute},
	Address:        ThrottleRule{Free: 20, Base: time.Second, Max: 15 * time.Minute},
	Account:        ThrottleRule{Free: 100, Base: time.Second, Max: time.Minute},
}

// throttleKeys are the counters one login attempt touches.
type throttleKeys struct {
	accountAddress, address, account string
}

func (k throttleKeys) all() []string { return []string{k.accountAddress, k.address, k.account} }

// accountOnly returns the counters a successful login clears: not the
// address's, or a client could reset its own by logging in to an account
// it owns between guesses.
func (k throttleKeys) accountOnly() []string { return []string{k.accountAddress, k.account} }

func newThrottleKeys(ctx context.Context, username string) throttleKeys {
	addr := clientAddress(ctx)
	return throttleKeys{
		// The username's length keeps the pair unambiguous whatever it holds.
		accountAddress: fmt.Sprintf("u+a:%d:%s@%s", len(username), username, addr),
		address:        "a:" + addr,
		account:        "u:" + username,
	}
}

// clientAddress is the caller's IP address, IPv6 reduced to its /64 (one
// host usually owns the whole prefix). Behind a proxy it is the proxy's.
func clientAddress(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	s := p.Addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return s // not IP (bufconn, a unix socket): one bucket
	}
	ip = ip.Unmap()
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return prefix.String()
	}
	return ip.String()
}

// throttled returns how long the caller must still wait before a login
// attempt is checked, or 0.
func (s *Service) throttled(ctx context.Context, keys throttleKeys) (time.Duration, error) {
	p := s.cfg.throttle
	now := s.cfg.clock.Now()
	counts, err := s.cfg.throttles.LoginFailures(ctx, keys.all(), now.Add(-p.Window))
	if err != nil {
		return 0, err
	}
	var wait time.Duration
	for key, rule := range map[string]ThrottleRule{keys.accountAddress: p.AccountAddress, keys.address: p.Address, keys.account: p.Account} {
		f, ok := counts[key]
		if !ok {
			continue
		}
		if until := f.Last.Add(rule.delay(f.Count)); until.After(now) {
			wait = max(wait, until.Sub(now))
		}
	}
	return wait, nil
}

func (s *Service) recordFailure(ctx context.Context, keys throttleKeys) {
	now := s.now()
	if err := s.cfg.throttles.RecordLoginFailure(ctx, keys.all(), now, now.Add(-s.cfg.throttle.Window)); err != nil {
		s.cfg.logger.ErrorContext(ctx, "recording a login failure failed", "err", err)
	}
}

func (s *Service) clearFailures(ctx context.Context, keys throttleKeys) {
	if err := s.cfg.throttles.ResetLoginFailures(ctx, keys.accountOnly()); err != nil {
		s.cfg.logger.WarnContext(ctx, "clearing login failures failed", "err", err)
	}
}
