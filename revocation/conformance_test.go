package revocation_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/authdtest"
	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/revocationtest"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// authd's own Cache: the service forgets the sessions it revokes, so a
// logout shows at once. Breaking it closes authd's store.
func TestConformance_Cache(t *testing.T) {
	revocationtest.Run(t, func(t *testing.T) revocationtest.Subject {
		e := newAuthd(t)
		return revocationtest.Subject{
			Checker: e.Revocations,
			Clock:   e.Clock,
			Login:   loginTo(e),
			Sync:    func(*testing.T) {},
			Break: func(t *testing.T) {
				if err := e.Store.Close(); err != nil {
					t.Fatal(err)
				}
				e.Clock.Advance(revocation.DefaultCacheTTL)
			},
		}
	})
}

// The Cache of another authd on the same store, which is not told of the
// revocation: it learns of it within its TTL.
func TestConformance_CacheOfAnotherInstance(t *testing.T) {
	revocationtest.Run(t, func(t *testing.T) revocationtest.Subject {
		e := newAuthd(t)
		var down atomic.Bool
		sessions := sessionsFunc(func(ctx context.Context, id string) (store.Session, error) {
			if down.Load() {
				return store.Session{}, errStoreDown
			}
			return e.Store.Session(ctx, id)
		})
		return revocationtest.Subject{
			Checker: revocation.NewCache(sessions, revocation.WithClock(e.Clock)),
			Clock:   e.Clock,
			Login:   loginTo(e),
			Sync:    func(*testing.T) { e.Clock.Advance(revocation.DefaultCacheTTL) },
			Break: func(*testing.T) {
				down.Store(true)
				e.Clock.Advance(revocation.DefaultCacheTTL)
			},
			Unavailable: errStoreDown,
		}
	})
}

// The Poller of a service verifying with the JWKS, driven by explicit
// polls. Breaking it takes authd down past the staleness limit.
func TestConformance_Poller(t *testing.T) {
	revocationtest.Run(t, func(t *testing.T) revocationtest.Subject {
		e := newAuthd(t)
		var down atomic.Bool
		poller := revocation.NewPoller(failingConn{ClientConnInterface: e.Conn, down: &down},
			revocation.WithClock(e.Clock), revocation.WithMaxStaleness(time.Minute))
		if err := poller.Poll(t.Context()); err != nil { // at startup, as a service does
			t.Fatal(err)
		}
		return revocationtest.Subject{
			Checker: poller,
			Clock:   e.Clock,
			Login:   loginTo(e),
			Sync: func(t *testing.T) {
				if err := poller.Poll(t.Context()); err != nil {
					t.Fatal(err)
				}
			},
			Break: func(t *testing.T) {
				down.Store(true)
				e.Clock.Advance(time.Minute + time.Second)
				if err := poller.Poll(t.Context()); err == nil {
					t.Fatal("poll succeeded with authd down")
				}
			},
			Unavailable: revocation.ErrStale,
		}
	})
}

func TestPoller_NeverPolledIsStale(t *testing.T) {
	e := newAuthd(t)
	poller := revocation.NewPoller(e.Conn, revocation.WithClock(e.Clock))
	claims := loginTo(e)(t).Claims
	_, err := poller.Revoked(t.Context(), claims)
	if !errors.Is(err, revocation.ErrStale) || !errors.Is(err, wire.ErrUnavailable) {
		t.Fatalf("never polled: %v, want ErrStale wrapping wire.ErrUnavailable", err)
	}
	if code := status.Code(wire.StatusError(err)); code != codes.Unavailable {
		t.Fatalf("never polled: the call fails with %v, want Unavailable", code)
	}
	if revoked, err := poller.Revoked(t.Context(), &token.Claims{Subject: "svc"}); err != nil || revoked {
		t.Fatalf("a token without sid, never polled: %v, %v; want not revoked", revoked, err)
	}
}

func TestPoller_StaleOnlyPastMaxStaleness(t *testing.T) {
	const maxStale = time.Minute
	e := newAuthd(t)
	poller := revocation.NewPoller(e.Conn, revocation.WithClock(e.Clock), revocation.WithMaxStaleness(maxStale))
	claims := loginTo(e)(t).Claims
	if err := poller.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(maxStale)
	if _, err := poller.Revoked(t.Context(), claims); err != nil {
		t.Fatalf("a list exactly %v old: %v", maxStale, err)
	}
	e.Clock.Advance(time.Nanosecond)
	if _, err := poller.Revoked(t.Context(), claims); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("a list older than %v: %v, want ErrStale", maxStale, err)
	}
	if err := poller.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if revoked, err := poller.Revoked(t.Context(), claims); err != nil || revoked {
		t.Fatalf("after a new poll: %v, %v; want a live session", revoked, err)
	}
}

// A hot session costs one store read per TTL; a revoked one is remembered;
// Forget makes the next check read the store.
func TestCache_ReadsTheStoreOncePerTTL(t *testing.T) {
	const ttl = time.Second
	clk := clock.NewFake(authdtest.Start)
	var reads atomic.Int64
	var revokedAt atomic.Pointer[time.Time]
	revokedAt.Store(&time.Time{})
	cache := revocation.NewCache(sessionsFunc(func(_ context.Context, id string) (store.Session, error) {
		reads.Add(1)
		if id == "gone" {
			return store.Session{}, store.ErrNotFound
		}
		return store.Session{ID: id, RevokedAt: *revokedAt.Load()}, nil
	}), revocation.WithClock(clk), revocation.WithCacheTTL(ttl))
	hot := &token.Claims{SessionID: "hot"}
	check := func(c *token.Claims, want bool, wantReads int64, what string) {
		t.Helper()
		revoked, err := cache.Revoked(t.Context(), c)
		if err != nil || revoked != want {
			t.Fatalf("%s: Revoked = %v, %v; want %v", what, revoked, err, want)
		}
		if n := reads.Load(); n != wantReads {
			t.Fatalf("%s: %d store reads so far, want %d", what, n, wantReads)
		}
	}
	for range 100 {
		check(hot, false, 1, "a hot session")
	}
	clk.Advance(ttl - time.Nanosecond)
	check(hot, false, 1, "a hot session, within the TTL")
	clk.Advance(time.Nanosecond)
	check(hot, false, 2, "a hot session, after the TTL")

	now := clk.Now()
	revokedAt.Store(&now)
	cache.Forget("hot")
	check(hot, true, 3, "a session revoked and forgotten")
	clk.Advance(time.Hour)
	check(hot, true, 3, "a revoked session, an hour later")

	check(&token.Claims{SessionID: "gone"}, true, 4, "a session the store does not have")
	cache.Forget()
	check(hot, true, 5, "after Forget of everything")
}

var errStoreDown = errors.New("store is down")

// sessionsFunc adapts a function to revocation.Sessions.
type sessionsFunc func(ctx context.Context, id string) (store.Session, error)

func (f sessionsFunc) Session(ctx context.Context, id string) (store.Session, error) {
	return f(ctx, id)
}

// newAuthd starts authd with a user alice.
func newAuthd(t *testing.T) *authdtest.Env {
	t.Helper()
	e := authdtest.New(t)
	e.AddUser(t, "alice", "pw")
	return e
}

// loginTo logs alice in to e; the session's Logout sends its access token
// to AuthService.Logout.
func loginTo(e *authdtest.Env) func(t *testing.T) revocationtest.Session {
	return func(t *testing.T) revocationtest.Session {
		t.Helper()
		access := e.Login(t, "alice", "pw").AccessToken
		claims, err := e.Verifier.Verify(t.Context(), access)
		if err != nil {
			t.Fatal(err)
		}
		return revocationtest.Session{
			Claims: claims,
			Logout: func(t *testing.T) {
				t.Helper()
				if _, err := e.Client.Logout(authdtest.Bearer(t.Context(), access), &authv1.LogoutRequest{}); err != nil {
					t.Fatal(err)
				}
			},
		}
	}
}
