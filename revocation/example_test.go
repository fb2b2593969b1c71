package revocation_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// sessions is a session table in memory; authd's is its store.
type sessions map[string]store.Session

func (s sessions) Session(_ context.Context, id string) (store.Session, error) {
	sess, ok := s[id]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return sess, nil
}

// authd's own Checker reads each token's session from the store and
// remembers the answer for a second. A token of a revoked or unknown
// session is revoked; a token minted elsewhere (no sid) has no session to
// revoke.
func ExampleCache() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	table := sessions{
		"live":       {ID: "live"},
		"logged-out": {ID: "logged-out", RevokedAt: clk.Now()},
	}
	cache := revocation.NewCache(table, revocation.WithClock(clk))

	for _, sid := range []string{"live", "logged-out", "unknown", ""} {
		revoked, err := cache.Revoked(ctx, &token.Claims{SessionID: sid})
		if err != nil {
			log.Fatal(err) // the store failed: the call fails closed
		}
		fmt.Printf("sid %q revoked: %t\n", sid, revoked)
	}
	// Output:
	// sid "live" revoked: false
	// sid "logged-out" revoked: true
	// sid "unknown" revoked: true
	// sid "" revoked: false
}

// A session revoked by another process (another authd, `authd user
// disable`) is seen once the cached answer is a TTL old; one revoked by
// this process is forgotten at once, so it is refused on the next call.
func ExampleCache_Forget() {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	table := sessions{"a": {ID: "a"}, "b": {ID: "b"}}
	cache := revocation.NewCache(table, revocation.WithClock(clk), revocation.WithCacheTTL(time.Second))
	check := func(sid string) bool {
		revoked, err := cache.Revoked(ctx, &token.Claims{SessionID: sid})
		if err != nil {
			log.Fatal(err)
		}
		return revoked
	}
	fmt.Println("a:", check("a"), "b:", check("b"))

	table["a"] = store.Session{ID: "a", RevokedAt: clk.Now()} // by another process
	table["b"] = store.Session{ID: "b", RevokedAt: clk.Now()} // by this one, which then:
	cache.Forget("b")
	fmt.Println("a:", check("a"), "b:", check("b"))

	clk.Advance(time.Second)
	fmt.Println("a:", check("a"), "b:", check("b"))
	// Output:
	// a: false b: false
	// a: false b: true
	// a: true b: true
}

// Any function can be a Checker, for instance one reading a deny-list the
// service keeps itself. An error makes the interceptors fail the call
// closed with Unavailable.
func ExampleCheckerFunc() {
	denied := map[string]bool{"s2": true}
	var checker revocation.Checker = revocation.CheckerFunc(func(_ context.Context, c *token.Claims) (bool, error) {
		return denied[c.SessionID], nil
	})

	for _, sid := range []string{"s1", "s2"} {
		revoked, _ := checker.Revoked(context.Background(), &token.Claims{SessionID: sid})
		fmt.Println(sid, "revoked:", revoked)
	}
	// Output:
	// s1 revoked: false
	// s2 revoked: true
}
