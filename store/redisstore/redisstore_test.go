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

	"github.com/authd-dev/authd/examples/greeter"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	examplev1 "github.com/authd-dev/authd/gen/example/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/internal/authdtest"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/revocation/redisfeed"
	"github.com/authd-dev/authd/service"
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

// A session revoked at authd is refused by a consumer within a second: the
// feed nudges the consumer's poller, whose own interval is an hour.
func TestFeed_ConsumerRefusesWithinASecond(t *testing.T) {
	rdb := client(t)
	e := authdtest.New(t, authdtest.WithServiceOptions(
		service.WithRevocationFeed(func(ctx context.Context, sid string) error { return redisfeed.Publish(ctx, rdb, sid) }),
	))
	e.AddUser(t, "alice", "pw")

	poller := revocation.NewPoller(e.Conn, revocation.WithClock(e.Clock), revocation.WithPollInterval(time.Hour))
	if err := poller.Poll(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	t.Cleanup(cancel)
	go poller.Run(ctx, nil)
	if err := redisfeed.Subscribe(ctx, rdb, func(string) { poller.Nudge() }); err != nil {
		t.Fatal(err)
	}
	srv, err := greeter.NewServer(e.Verifier, e.Clock, interceptors.WithRevocations(poller))
	if err != nil {
		t.Fatal(err)
	}
	g := examplev1.NewGreeterServiceClient(authdtest.Serve(t, srv))
	login := e.Login(t, "alice", "pw")
	whoAmI := func() error {
		_, err := g.WhoAmI(authdtest.Bearer(bg, login.AccessToken), &examplev1.WhoAmIRequest{})
		return err
	}
	if err := whoAmI(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Client.Logout(authdtest.Bearer(bg, login.AccessToken), &authv1.LogoutRequest{}); err != nil {
		t.Fatal(err)
	}
	for {
		err := whoAmI()
		if wire.Reason(err) == wire.ReasonTokenRevoked {
			break
		}
		if err != nil && wire.Reason(err) == "" {
			authdtest.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenRevoked)
		}
		if time.Since(start) > time.Second {
			t.Fatal("the consumer still accepts the token a second after logout")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("refused %v after logout", time.Since(start))
}
