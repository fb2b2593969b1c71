package service

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/authd-dev/authd/store"
)

// ThrottleRule slows down failed login attempts counted under one kind of
// key: the first Free cost nothing, then each further attempt must wait
// Base, doubled per failure, at most Max, after the last attempt.
type ThrottleRule struct {
	Free int
	Base time.Duration
	Max  time.Duration
}

func (r ThrottleRule) limit(key string) store.ThrottleLimit {
	return store.ThrottleLimit{Key: key, Free: r.Free, Base: r.Base, Max: r.Max}
}

// ThrottlePolicy is the login-throttling policy. Attempts are counted per
// (account, client address), per client address and per account; a
// counter idle for Window is forgotten, and a successful login clears the
// account's counters. No rule locks an account out for long: the longest
// wait is AccountAddress.Max, for the one client that keeps guessing; the
// per-account rule, which anyone can push, waits at most a minute; the
// per-address rule, which everyone behind one NAT or proxy shares, is a
// slowdown of seconds.
type ThrottlePolicy struct {
	Window         time.Duration
	AccountAddress ThrottleRule // one client guessing one account's password
	Address        ThrottleRule // one client spraying many accounts
	Account        ThrottleRule // many clients guessing one account
}

// DefaultThrottlePolicy: 5 free failures per account and address, then 1 s
// doubling to 15 min; 20 per address, then at most 10 s between attempts;
// 100 per account, then at most 1 min.
var DefaultThrottlePolicy = ThrottlePolicy{
	Window:         time.Hour,
	AccountAddress: ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute},
	Address:        ThrottleRule{Free: 20, Base: time.Second, Max: 10 * time.Second},
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

func (s *Service) throttleKeys(ctx context.Context, username string) throttleKeys {
	addr := clientAddress(ctx, s.cfg.trustedProxies)
	return throttleKeys{
		// The username's length keeps the pair unambiguous whatever it holds.
		accountAddress: fmt.Sprintf("u+a:%d:%s@%s", len(username), username, addr),
		address:        "a:" + addr,
		account:        "u:" + username,
	}
}

func (s *Service) limits(k throttleKeys) []store.ThrottleLimit {
	p := s.cfg.throttle
	return []store.ThrottleLimit{
		p.AccountAddress.limit(k.accountAddress), p.Address.limit(k.address), p.Account.limit(k.account),
	}
}

// reserve counts the attempt before its secret is checked, so that however
// many arrive at once no more are checked than the policy allows. It
// returns how long the caller must wait first when it may not go ahead.
func (s *Service) reserve(ctx context.Context, k throttleKeys) (time.Duration, error) {
	now := s.cfg.clock.Now()
	return s.cfg.throttles.ReserveLoginAttempt(ctx, s.limits(k), now, now.Add(-s.cfg.throttle.Window))
}

// settle records how a reserved attempt ended: a failure is counted, a
// success clears the account's counters, anything else (the hash was busy,
// the store failed) only ends the attempt.
func (s *Service) settle(ctx context.Context, k throttleKeys, failed, succeeded bool) error {
	var clear []string
	if succeeded {
		clear = k.accountOnly()
	}
	return s.cfg.throttles.FinishLoginAttempt(context.WithoutCancel(ctx), k.all(), failed, clear, s.cfg.clock.Now())
}

// clientAddress is the caller's IP address, IPv6 reduced to its /64 (one
// host usually owns the whole prefix). When the peer is a trusted proxy,
// the client is the rightmost address of its forwarding headers that is
// not itself a trusted proxy; headers from any other peer are ignored, so
// a client cannot choose its own bucket.
func clientAddress(ctx context.Context, trusted []netip.Prefix) string {
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
	if isTrusted(ip, trusted) {
		if client, ok := forwardedClient(ctx, trusted); ok {
			ip = client
		}
	}
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return prefix.String()
	}
	return ip.String()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedClient walks the hops of x-forwarded-for, or else of forwarded
// (RFC 7239), from the nearest: the first hop that is not a trusted proxy
// is the client. A malformed hop ends the walk without an answer.
func forwardedClient(ctx context.Context, trusted []netip.Prefix) (netip.Addr, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	hops := forwardedFor(md.Get("x-forwarded-for"), false)
	if len(hops) == 0 {
		hops = forwardedFor(md.Get("forwarded"), true)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{}, false
		}
		if ip = ip.Unmap(); !isTrusted(ip, trusted) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor lists the addresses of the hops, nearest last: the values
// of x-forwarded-for ("a, b"), or the for= parameters of forwarded
// ("for=a;proto=https, for=\"[v6]:port\"").
func forwardedFor(values []string, rfc7239 bool) []string {
	var hops []string
	for _, v := range values {
		for _, hop := range strings.Split(v, ",") {
			hop = strings.TrimSpace(hop)
			if rfc7239 {
				found := ""
				for _, param := range strings.Split(hop, ";") {
					name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
					if strings.EqualFold(name, "for") {
						found = strings.Trim(value, `"`)
					}
				}
				hop = found
			}
			if host, _, err := net.SplitHostPort(hop); err == nil {
				hop = host
			}
			hops = append(hops, strings.Trim(hop, "[]"))
		}
	}
	return hops
}
