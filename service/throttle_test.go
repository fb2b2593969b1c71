package service_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
)

// wantThrottled fails unless err is RESOURCE_EXHAUSTED with a RetryInfo of
// retry.
func wantThrottled(t *testing.T, err error, retry time.Duration) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted", err)
	}
	if got := retryDelay(t, err); got != retry {
		t.Fatalf("retry delay = %v, want %v", got, retry)
	}
}

func login(e *authdenv.Env, pw string) error {
	_, err := e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: pw})
	return err
}

// loginFrom calls the service directly as a client at addr, so tests can
// vary the address bufconn does not have.
func loginFrom(e *authdenv.Env, addr, user, pw string) error {
	ctx := peer.NewContext(bg, &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(addr), Port: 40000}})
	_, err := e.Service.Login(ctx, &authv1.LoginRequest{Username: user, Password: pw})
	return err
}

func TestThrottle_BackoffPerAccountAndAddress(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		tokens.WantRefusal(t, login(e, fmt.Sprint("guess", i)), codes.Unauthenticated, badCreds)
	}
	wantThrottled(t, login(e, "wrong"), time.Second)
	// Throttled attempts are refused unchecked, the right password too, and
	// are not counted.
	for range 10 {
		wantThrottled(t, login(e, "correct horse"), time.Second)
	}
	e.Clock.Advance(time.Second)
	tokens.WantRefusal(t, login(e, "wrong"), codes.Unauthenticated, badCreds)
	wantThrottled(t, login(e, "wrong"), 2*time.Second)
	e.Clock.Advance(2 * time.Second)
	tokens.WantRefusal(t, login(e, "wrong"), codes.Unauthenticated, badCreds)
	wantThrottled(t, login(e, "wrong"), 4*time.Second)
	e.Clock.Advance(4 * time.Second)

	// Success clears the account's counters.
	if err := login(e, "correct horse"); err != nil {
		t.Fatal(err)
	}
	tokens.WantRefusal(t, login(e, "wrong"), codes.Unauthenticated, badCreds)
}

func TestThrottle_DelayIsCapped(t *testing.T) {
	e := newEnv(t)
	var longest time.Duration
	for range 40 {
		err := login(e, "wrong")
		if status.Code(err) != codes.ResourceExhausted {
			tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
			continue
		}
		d := retryDelay(t, err)
		if d > 15*time.Minute {
			t.Fatalf("retry delay %v over the 15 min cap", d)
		}
		longest = max(longest, d)
		e.Clock.Advance(d)
	}
	if longest != 15*time.Minute {
		t.Fatalf("longest delay %v, want the 15 min cap", longest)
	}
}

func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			return info.GetRetryDelay().AsDuration()
		}
	}
	t.Fatalf("no RetryInfo in %v", err)
	return 0
}

func TestThrottle_AttackerCannotLockOutVictim(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		err := loginFrom(e, "203.0.113.7", "alice", fmt.Sprint("guess", i))
		if i < 5 {
			tokens.WantRefusal(t, err, codes.Unauthenticated, badCreds)
		} else {
			wantThrottled(t, err, time.Second)
		}
	}
	if err := loginFrom(e, "198.51.100.1", "alice", "correct horse"); err != nil {
		t.Fatalf("the victim, elsewhere, was locked out: %v", err)
	}
}

func TestThrottle_AddressSprayingAccounts(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		tokens.WantRefusal(t, loginFrom(e, "2001:db8::1", fmt.Sprint("user", i), "pw"), codes.Unauthenticated, badCreds)
	}
	// Another address in the same /64 shares the counter.
	wantThrottled(t, loginFrom(e, "2001:db8::2", "someone-else", "pw"), time.Second)
	if err := loginFrom(e, "2001:db8:1::1", "alice", "correct horse"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

func TestThrottle_DistributedGuessingDelaysAtMostAMinute(t *testing.T) {
	e := newEnv(t)
	for i := range 100 {
		tokens.WantRefusal(t, loginFrom(e, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), "alice", "guess"), codes.Unauthenticated, badCreds)
	}
	wantThrottled(t, loginFrom(e, "192.0.2.1", "alice", "correct horse"), time.Second)
	for i := range 20 {
		e.Clock.Advance(time.Minute)
		tokens.WantRefusal(t, loginFrom(e, fmt.Sprintf("10.1.0.%d", i+1), "alice", "guess"), codes.Unauthenticated, badCreds)
	}
	err := loginFrom(e, "192.0.2.1", "alice", "correct horse")
	wantThrottled(t, err, time.Minute)
	e.Clock.Advance(time.Minute)
	if err := loginFrom(e, "192.0.2.1", "alice", "correct horse"); err != nil {
		t.Fatalf("after the capped minute: %v", err)
	}
}

func TestThrottle_SurvivesRestart(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		tokens.WantRefusal(t, login(e, "wrong"), codes.Unauthenticated, badCreds)
	}
	restarted := e.Restart(t).Service
	ctx := peer.NewContext(bg, &peer.Peer{Addr: bufconnAddr{}})
	_, err := restarted.Login(ctx, &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	wantThrottled(t, err, time.Second)
}

// bufconnAddr is the peer address bufconn reports.
type bufconnAddr struct{}

func (bufconnAddr) Network() string { return "bufconn" }
func (bufconnAddr) String() string  { return "bufconn" }

func TestThrottle_ChangePasswordToo(t *testing.T) {
	e := newEnv(t)
	access := e.Login(t, "alice", "correct horse").AccessToken
	change := func(old string) error {
		_, err := e.Client.ChangePassword(tokens.Bearer(bg, access), &authv1.ChangePasswordRequest{OldPassword: old, NewPassword: "new password"})
		return err
	}
	for range 5 {
		tokens.WantRefusal(t, change("wrong"), codes.Unauthenticated, badCreds)
	}
	wantThrottled(t, change("correct horse"), time.Second)
}

func TestThrottle_StoreDownFailsClosed(t *testing.T) {
	e := newEnv(t)
	e.DB.Close()
	_, err := e.Client.Login(context.Background(), &authv1.LoginRequest{Username: "alice", Password: "correct horse"})
	tokens.WantRefusal(t, err, codes.Unavailable, "")
}
