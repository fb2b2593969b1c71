package interceptors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// switchable is a guard.Revocations the test turns: revoked, or down.
type switchable struct {
	revoked, down atomic.Bool
	asked         atomic.Int64
}

func (s *switchable) Revoked(context.Context, *token.Claims) (bool, error) {
	s.asked.Add(1)
	if s.down.Load() {
		return false, errors.New("store down")
	}
	return s.revoked.Load(), nil
}

// An open stream does not outlive its session: once the checker says the
// session is revoked, the stream ends with TOKEN_REVOKED within one
// recheck interval, and no message passes after that.
func TestStream_EndedWhenItsSessionIsRevoked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		turn   func(*switchable)
		code   codes.Code
		reason string
	}{
		{"revoked", func(s *switchable) { s.revoked.Store(true) }, codes.Unauthenticated, revoked},
		{"checker down: fail closed", func(s *switchable) { s.down.Store(true) }, codes.Unavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := tokens.New(t)
			var sw switchable
			client := newGreeter(t, iss, guard.Config{Revocations: &sw, StreamRevocationCheck: time.Second})
			stream, err := client.Ticks(tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid)), &examplev1.TicksRequest{IntervalMs: 60_000})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			// The handler's tick, the expiry and the revocation check.
			if !iss.Clock.WaitForTimers(3, 10*time.Second) {
				t.Fatal("the three timers of an open stream were never armed")
			}
			iss.Clock.Advance(time.Second) // a check while the session is live
			if !iss.Clock.WaitForTimers(3, 10*time.Second) {
				t.Fatal("the revocation check was not armed again after a live answer")
			}
			tc.turn(&sw)
			iss.Clock.Advance(time.Second)
			_, err = stream.Recv()
			tokens.WantRefusal(t, err, tc.code, tc.reason)
			if sw.asked.Load() < 3 { // at the open, then twice while open
				t.Fatalf("checker asked %d times", sw.asked.Load())
			}
		})
	}
}

// Streams of tokens without a session, or without a checker, arm no
// revocation check: only the tick and the expiry.
func TestStream_NoRevocationCheckWithoutChecker(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	stream, err := client.Ticks(tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid)), &examplev1.TicksRequest{IntervalMs: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if !iss.Clock.WaitForTimers(2, 10*time.Second) || iss.Clock.WaitForTimers(3, 50*time.Millisecond) {
		t.Fatal("want exactly the tick and the expiry timers")
	}
}

// countingVerifier counts signature checks.
type countingVerifier struct {
	*token.Verifier
	n atomic.Int64
}

func (c *countingVerifier) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c.n.Add(1)
	return c.Verifier.Verify(ctx, raw)
}

// The verified-token cache forgets every entry when the keys change: a
// token accepted from the cache is refused the moment its key leaves the
// key set (a revoked key), without waiting for its exp.
func TestCache_ForgetsTokensWhenTheKeysChange(t *testing.T) {
	iss := tokens.New(t)
	client := newGreeter(t, iss, guard.Config{})
	ctx := tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid))
	for range 3 {
		if _, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	newer, err := keys.NewKey(iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Keys.Replace(newer); err != nil { // the old key is gone: revoked
		t.Fatal(err)
	}
	_, err = client.WhoAmI(ctx, &examplev1.WhoAmIRequest{})
	tokens.WantRefusal(t, err, codes.Unauthenticated, invalid)
	if _, err := client.WhoAmI(tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid)), &examplev1.WhoAmIRequest{}); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
}

// A cached token is trusted for at most a minute without a new signature
// check, however long it lives.
func TestCache_TrustsAnEntryAtMostAMinute(t *testing.T) {
	iss := tokens.New(t)
	v := &countingVerifier{Verifier: iss.Verifier}
	srv, err := greeter.NewServer(greeterGuard(v, iss.Clock, guard.Config{}), iss.Clock)
	if err != nil {
		t.Fatal(err)
	}
	client := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	ctx := tokens.Bearer(bg, iss.FreshAccess(t, "alice", sid))
	authorize := func() {
		t.Helper()
		if _, err := client.WhoAmI(ctx, &examplev1.WhoAmIRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	authorize()
	iss.Clock.Advance(59 * time.Second)
	authorize()
	if n := v.n.Load(); n != 1 {
		t.Fatalf("%d signature checks within a minute, want 1 (the cache)", n)
	}
	iss.Clock.Advance(time.Second)
	authorize()
	if n := v.n.Load(); n != 2 {
		t.Fatalf("%d signature checks after a minute, want 2", n)
	}
}
