package service_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// Throttling holds under concurrency: attempts are reserved before the
// password hash, so of 40 wrong passwords sent at once from one address
// against one account, exactly the 5 the policy allows are checked; the
// rest are refused unchecked with RetryInfo.
func TestThrottle_HoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "wrong"})
		}()
	}
	wg.Wait()
	checked, throttled := 0, 0
	for _, err := range errs {
		switch {
		case wire.Reason(err) == wire.ReasonInvalidCredentials:
			checked++
		case status.Code(err) == codes.ResourceExhausted:
			if retryDelay(t, err) <= 0 {
				t.Fatalf("throttled without a RetryInfo: %v", err)
			}
			throttled++
		default:
			t.Fatalf("unexpected answer: %v", err)
		}
	}
	if checked != accounts.DefaultThrottlePolicy.AccountAddress.Free || throttled != n-checked {
		t.Fatalf("%d concurrent wrong passwords: %d checked, %d throttled; want %d checked",
			n, checked, throttled, accounts.DefaultThrottlePolicy.AccountAddress.Free)
	}
}

// failingThrottles is a counter store whose writes fail: a full disk.
type failingThrottles struct {
	store.Throttles
	reserve, finish bool
}

var errDiskFull = errors.New("disk full")

func (f failingThrottles) ReserveLoginAttempt(ctx context.Context, attempt string, l []store.ThrottleLimit, now, since time.Time) (store.ThrottleWait, error) {
	if f.reserve {
		return store.ThrottleWait{}, errDiskFull
	}
	return f.Throttles.ReserveLoginAttempt(ctx, attempt, l, now, since)
}

func (f failingThrottles) FinishLoginAttempt(ctx context.Context, attempt string, keys []string, failed bool, clear []string, now time.Time) error {
	if f.finish {
		return errDiskFull
	}
	return f.Throttles.FinishLoginAttempt(ctx, attempt, keys, failed, clear, now)
}

// A failure that cannot be counted is not answered as a checked failure:
// with the counters unwritable a wrong password is Unavailable, like the
// right one would be, so Login is no password oracle that counts nothing.
func TestThrottle_UncountableFailureIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fail         failingThrottles
		wrong, right codes.Code
	}{
		{"reservation fails", failingThrottles{reserve: true}, codes.Unavailable, codes.Unavailable},
		{"counting the failure fails", failingThrottles{finish: true}, codes.Unavailable, codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fail.Throttles = authdenv.New(t).DB // working counters underneath
			e := newEnv(t, func(o *authdenv.Options) { o.Accounts.Counters = tc.fail })
			_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "wrong"})
			tokens.WantRefusal(t, err, tc.wrong, "")
			_, err = e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
			if status.Code(err) != tc.right {
				t.Fatalf("right password: %v, want %v", err, tc.right)
			}
		})
	}
}

func loginVia(e *authdenv.Env, peerAddr string, md metadata.MD, pw string) error {
	ctx := peer.NewContext(bg, &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(peerAddr), Port: 40000}})
	if md != nil {
		ctx = metadata.NewIncomingContext(ctx, md)
	}
	_, err := e.Service.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: pw})
	return err
}

// Behind a trusted proxy each client has its own buckets, named by the
// forwarding metadata (rightmost untrusted hop); from any other peer that
// metadata is ignored, so a client cannot pick a fresh bucket per guess.
func TestThrottle_TrustedProxies(t *testing.T) {
	proxy := "192.0.2.10"
	e := newEnv(t, func(o *authdenv.Options) { o.TrustedProxies = []netip.Prefix{mustPrefix(t, "192.0.2.0/24")} })
	xff := func(chain string) metadata.MD { return metadata.Pairs("x-forwarded-for", chain) }
	for range 5 {
		tokens.WantRefusal(t, loginVia(e, proxy, xff("203.0.113.7"), "wrong"), codes.Unauthenticated, badCreds)
	}
	wantThrottled(t, loginVia(e, proxy, xff("203.0.113.7"), "wrong"), time.Second)
	// The client is the rightmost hop that is not a trusted proxy: a
	// spoofed leftmost entry changes nothing.
	wantThrottled(t, loginVia(e, proxy, xff("198.51.100.1, 203.0.113.7, 192.0.2.11"), "wrong"), time.Second)
	wantThrottled(t, loginVia(e, proxy, metadata.Pairs("forwarded", `for=198.51.100.1, for="203.0.113.7:4711";proto=https`), "wrong"), time.Second)
	// Another user behind the same proxy logs in.
	if err := loginVia(e, proxy, xff("203.0.113.8"), "correct horse"); err != nil {
		t.Fatalf("another client behind the proxy: %v", err)
	}
	// An untrusted peer's forwarding metadata is ignored: its guesses all
	// land in its own bucket whatever it claims.
	for i := range 5 {
		tokens.WantRefusal(t, loginVia(e, "198.51.100.9", xff("10.0.0."+string(rune('1'+i))), "wrong"), codes.Unauthenticated, badCreds)
	}
	wantThrottled(t, loginVia(e, "198.51.100.9", xff("10.0.0.99"), "wrong"), time.Second)
}

// The per-address rule, shared by everyone behind one NAT, is a slowdown of
// seconds, never a long lockout of correct passwords.
func TestThrottle_PerAddressIsABoundedSlowdown(t *testing.T) {
	e := newEnv(t)
	for i := range 60 {
		user := "user" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := loginFrom(e, "198.51.100.20", user, "wrong"); status.Code(err) == codes.ResourceExhausted {
			if d := retryDelay(t, err); d > accounts.DefaultThrottlePolicy.Address.Max {
				t.Fatalf("per-address wait %s, over %s", d, accounts.DefaultThrottlePolicy.Address.Max)
			}
			e.Clock.Advance(accounts.DefaultThrottlePolicy.Address.Max)
		}
	}
	e.Clock.Advance(accounts.DefaultThrottlePolicy.Address.Max)
	if err := loginFrom(e, "198.51.100.20", "alice", "correct horse"); err != nil {
		t.Fatalf("a correct password from the busy address after %s: %v", accounts.DefaultThrottlePolicy.Address.Max, err)
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// killableThrottles drops every settlement while dead is set, as a process
// killed between a reservation and its settlement would, and holds the
// settlement of the user named slow until released: an attempt kept in
// flight.
type killableThrottles struct {
	store.Throttles
	dead    *atomic.Bool
	slow    string
	reached chan struct{}
	release chan struct{}
}

func (k killableThrottles) FinishLoginAttempt(ctx context.Context, attempt string, keys []string, failed bool, clear []string, now time.Time) error {
	if k.dead.Load() {
		return nil
	}
	if slices.Contains(keys, "u:"+k.slow) {
		close(k.reached)
		<-k.release
	}
	return k.Throttles.FinishLoginAttempt(ctx, attempt, keys, failed, clear, now)
}

// Logins in flight when authd was killed (never settled) stop counting on
// their own, InFlightTTL after they were reserved, however busy their
// address stays; until then they count against the address's bound of
// attempts in flight, never as failures: the address's logins go on, and a
// login refused for them hears LOGIN_IN_FLIGHT with a RetryInfo, not "too
// many failed logins".
func TestThrottle_AttemptsOfAKilledProcessExpireOnTheirOwn(t *testing.T) {
	const addr = "198.51.100.77"
	var dead atomic.Bool
	k := killableThrottles{dead: &dead, slow: "slow", reached: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, func(o *authdenv.Options) { o.Accounts.Counters = &k })
	k.Throttles = e.DB
	bound := accounts.DefaultThrottlePolicy.Address.InFlight
	users := []string{"busy", "slow", "late"}
	for i := range bound - 1 {
		users = append(users, fmt.Sprint("user", i))
	}
	for _, u := range users {
		e.AddUser(t, u, "pw of "+u)
	}
	// bound-1 logins in flight when the process dies.
	dead.Store(true)
	for i := range bound - 1 {
		if err := loginFrom(e, addr, fmt.Sprint("user", i), fmt.Sprint("pw of user", i)); err != nil {
			t.Fatal(err)
		}
	}
	dead.Store(false)
	killedAt := e.Clock.Now()
	// The address keeps logging in, one at a time, every 5 s.
	busy := func() {
		t.Helper()
		if err := loginFrom(e, addr, "busy", "pw of busy"); err != nil {
			t.Fatalf("%s after the kill: a login from the address: %v", e.Clock.Now().Sub(killedAt), err)
		}
	}
	busy()
	// One more in flight fills the bound: a login from the address is
	// refused for the attempts in flight, not as a failure.
	slow := make(chan error, 1)
	go func() { slow <- loginFrom(e, addr, "slow", "pw of slow") }()
	<-k.reached
	err := loginFrom(e, addr, "late", "pw of late")
	tokens.WantRefusal(t, err, codes.ResourceExhausted, wire.ReasonLoginInFlight)
	if d := retryDelay(t, err); d != time.Second {
		t.Fatalf("retry delay %s, want 1s", d)
	}
	for e.Clock.Now().Before(killedAt.Add(store.InFlightTTL)) {
		e.Clock.Advance(5 * time.Second)
		if e.Clock.Now().Before(killedAt.Add(store.InFlightTTL)) {
			tokens.WantRefusal(t, loginFrom(e, addr, "late", "pw of late"), codes.ResourceExhausted, wire.ReasonLoginInFlight)
		}
	}
	// InFlightTTL after the kill the dead attempts are gone, though the
	// address never stopped: only the slow one is in flight.
	if err := loginFrom(e, addr, "late", "pw of late"); err != nil {
		t.Fatalf("%s after the kill: %v", e.Clock.Now().Sub(killedAt), err)
	}
	busy()
	close(k.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// Many honest users behind one address logging in at once, every password
// right: none is told "too many failed logins". A login refused for the
// attempts in flight hears LOGIN_IN_FLIGHT with a RetryInfo, and succeeds
// when retried.
func TestThrottle_ConcurrentHonestLoginsFromOneAddress(t *testing.T) {
	e := newEnv(t)
	const n = 300
	for i := range n {
		e.AddUser(t, fmt.Sprint("user", i), fmt.Sprint("pw of user", i))
	}
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			for range 1000 {
				err := loginFrom(e, "203.0.113.200", fmt.Sprint("user", i), fmt.Sprint("pw of user", i))
				if err == nil {
					return
				}
				if wire.Reason(err) != wire.ReasonLoginInFlight {
					errs <- fmt.Errorf("user%d: %v", i, err)
					return
				}
				inFlight.Add(1)
				// Back off, as a client honouring the RetryInfo would
				// (shorter here: the delay is of the real clock).
				time.Sleep(time.Duration(10+rand.IntN(40)) * time.Millisecond)
			}
			errs <- fmt.Errorf("user%d: never let through", i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		for _, l := range strings.Split(e.Logs.String(), "\n") {
			if strings.Contains(l, "request failed") {
				t.Log(l)
			}
		}
		t.Fatal(err)
	}
	t.Logf("%d logins at once from one address: all succeeded; %d refusals for attempts in flight on the way", n, inFlight.Load())
}
