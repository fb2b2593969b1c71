package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/redisstore"
	"github.com/authd-dev/authd/store/storetest"
	"github.com/authd-dev/authd/wire"
)

var bg = context.Background()

// client connects to AUTHD_TEST_REDIS, or skips.
func client(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("AUTHD_TEST_REDIS")
	if url == "" {
		t.Skip("AUTHD_TEST_REDIS is not set")
	}
	c, err := redisstore.Open(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// prefix is a key prefix of this test's own, so runs do not collide.
func prefix(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "authd-test-" + hex.EncodeToString(b) + ":"
}

func TestThrottlesConformance(t *testing.T) {
	storetest.RunThrottles(t, func(t *testing.T) store.Throttles {
		return redisstore.NewThrottles(client(t), prefix(t))
	})
}

// A session revoked at authd is refused by a consumer at once: the feed
// nudges the consumer's poller, whose own interval is an hour on a clock
// that never moves, so nothing else could make it poll.
func TestFeed_ConsumerRefusesBeforeItsNextPoll(t *testing.T) {
	rdb := client(t)
	e := authdenv.New(t, func(o *authdenv.Options) {
		o.Session.OnRevoke = func(ctx context.Context, sids ...string) {
			if len(sids) == 0 {
				sids = []string{redisfeed.AllSessions}
			}
			for _, sid := range sids {
				if err := redisfeed.Publish(ctx, rdb, sid); err != nil {
					t.Errorf("publish revocation of %s: %v", sid, err)
				}
			}
		}
	})
	e.AddUser(t, "alice", "pw")

	poller := revocation.NewPoller(e.Conn, revocation.Config{Clock: e.Clock, Interval: time.Hour})
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	t.Cleanup(cancel)
	go poller.Run(ctx, nil)
	// Other tests on this Redis publish too: heard carries every sid.
	heard := make(chan string, 100)
	err := redisfeed.Subscribe(ctx, rdb, func(sid string) {
		poller.Nudge()
		select {
		case heard <- sid:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(guard.New(e.Verifier, guard.Config{PublicHealthAndReflection: true, Revocations: poller, Clock: e.Clock}), e.Clock)
	if err != nil {
		t.Fatal(err)
	}
	g := examplev1.NewGreeterServiceClient(tokens.Serve(t, srv))
	login := e.Login(t, "alice", "pw")
	claims, err := e.Verifier.Verify(bg, login.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	whoAmI := func() error {
		_, err := g.WhoAmI(tokens.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{})
		return err
	}
	if err := whoAmI(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client.Logout(tokens.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}

	// The bounds below only turn a hang into a failure.
	timeout := time.After(10 * time.Second)
	for sid := ""; sid != claims.SessionID; {
		select {
		case sid = <-heard:
		case <-timeout:
			t.Fatal("the feed did not deliver the logout within 10 s")
		}
	}
	// The nudged poll runs in Run's goroutine: wait for it to take effect.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := whoAmI()
		if wire.Reason(err) == wire.ReasonTokenRevoked {
			return
		}
		if err != nil {
			tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatal("the consumer, nudged by the feed, still accepts the logged-out session after 10 s")
		}
	}
}
