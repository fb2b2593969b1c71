package revocation_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/internal/revocationtest"
	"github.com/authd-dev/authd/revocation"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// authd's own checker, its session engine: it forgets the sessions it
// revokes, so a logout shows at once. Breaking it closes authd's store.
func TestConformance_Sessions(t *testing.T) {
	revocationtest.Run(t, func(t *testing.T) revocationtest.Subject {
		e := newAuthd(t)
		return revocationtest.Subject{
			Checker: e.Sessions,
			Clock:   e.Clock,
			Login:   loginTo(e),
			Sync:    func(*testing.T) {},
			Break: func(t *testing.T) {
				if err := e.DB.Close(); err != nil {
					t.Fatal(err)
				}
				e.Clock.Advance(session.DefaultCacheTTL)
			},
		}
	})
}

// The session engine of another authd on the same store, which is not
// told of the revocation: it learns of it within its cache TTL.
func TestConformance_SessionsOfAnotherInstance(t *testing.T) {
	revocationtest.Run(t, func(t *testing.T) revocationtest.Subject {
		e := newAuthd(t)
		var down atomic.Bool
		other := e.Restart(t, func(o *authdenv.Options) {
			o.Store = func(db *sqlite.DB) store.Store { return failingStore{Store: db, down: &down} }
		})
		return revocationtest.Subject{
			Checker: other.Sessions,
			Clock:   e.Clock,
			Login:   loginTo(e),
			Sync:    func(*testing.T) { e.Clock.Advance(session.DefaultCacheTTL) },
			Break: func(*testing.T) {
				down.Store(true)
				e.Clock.Advance(session.DefaultCacheTTL)
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
			revocation.Config{Clock: e.Clock, MaxStaleness: time.Minute})
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
	poller := revocation.NewPoller(e.Conn, revocation.Config{Clock: e.Clock})
	access := e.Login(t, "alice", "pw").AccessToken
	claims, err := e.Verifier.Verify(t.Context(), access)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.Revoked(t.Context(), claims); !errors.Is(err, revocation.ErrStale) {
		t.Fatalf("never polled: %v, want ErrStale", err)
	}
	// ErrStale is no refusal of its own: the Guard the Poller answers
	// fails the call closed with it.
	g := guard.New(e.Verifier, guard.Config{Revocations: poller, Clock: e.Clock})
	_, err = g.DecideRule(t.Context(), guard.Rule{Requirement: guard.Access}, guard.Call{Authorization: []string{"Bearer " + access}})
	if !errors.Is(err, revocation.ErrStale) || !errors.Is(err, guard.ErrUnavailable) {
		t.Fatalf("never polled: %v, want ErrStale wrapped in guard.ErrUnavailable", err)
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
	poller := revocation.NewPoller(e.Conn, revocation.Config{Clock: e.Clock, MaxStaleness: maxStale})
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

// A hot session costs one store read per TTL; a revoked one is remembered
// until its token expires; Forget makes the next check read the store.
func TestSessions_ReadTheStoreOncePerTTL(t *testing.T) {
	const ttl = time.Second
	var reads atomic.Int64
	e := authdenv.New(t, func(o *authdenv.Options) {
		o.Session.CacheTTL = ttl
		o.Store = func(db *sqlite.DB) store.Store { return countingStore{Store: db, reads: &reads} }
	})
	e.AddUser(t, "alice", "pw")
	hot := loginTo(e)(t).Claims
	base := reads.Load() // what the login read
	check := func(c *token.Claims, want bool, wantReads int64, what string) {
		t.Helper()
		revoked, err := e.Sessions.Revoked(t.Context(), c)
		if err != nil || revoked != want {
			t.Fatalf("%s: Revoked = %v, %v; want %v", what, revoked, err, want)
		}
		if n := reads.Load() - base; n != wantReads {
			t.Fatalf("%s: %d store reads so far, want %d", what, n, wantReads)
		}
	}
	for range 100 {
		check(hot, false, 1, "a hot session")
	}
	e.Clock.Advance(ttl - time.Nanosecond)
	check(hot, false, 1, "a hot session, within the TTL")
	e.Clock.Advance(time.Nanosecond)
	check(hot, false, 2, "a hot session, after the TTL")

	// Revoked in the store behind the engine's back (another process),
	// then announced to it (the revocation feed).
	if err := e.DB.RevokeSession(t.Context(), hot.SessionID, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.Sessions.Forget(hot.SessionID)
	check(hot, true, 3, "a session revoked and forgotten")
	e.Clock.Advance(hot.Expiry().Sub(e.Clock.Now()) - time.Nanosecond)
	check(hot, true, 3, "a revoked session, until its token expires")

	gone := &token.Claims{SessionID: "gone", ExpiresAt: jwt.NewNumericDate(e.Clock.Now().Add(time.Hour))}
	check(gone, true, 4, "a session the store does not have")
	e.Sessions.Forget()
	check(hot, true, 5, "after Forget of everything")
}

var errStoreDown = errors.New("store is down")

// failingStore fails every session read while down is set.
type failingStore struct {
	store.Store
	down *atomic.Bool
}

func (s failingStore) Session(ctx context.Context, id string) (store.Session, error) {
	if s.down.Load() {
		return store.Session{}, errStoreDown
	}
	return s.Store.Session(ctx, id)
}

// countingStore counts session reads.
type countingStore struct {
	store.Store
	reads *atomic.Int64
}

func (s countingStore) Session(ctx context.Context, id string) (store.Session, error) {
	s.reads.Add(1)
	return s.Store.Session(ctx, id)
}

// newAuthd starts authd with a user alice, who has a role.
func newAuthd(t *testing.T) *authdenv.Env {
	t.Helper()
	e := authdenv.New(t)
	e.AddUser(t, "alice", "pw", "support")
	return e
}

// loginTo logs alice in to e; the session's Logout sends its access token
// to AuthService.Logout.
func loginTo(e *authdenv.Env) func(t *testing.T) revocationtest.Session {
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
				if _, err := e.Client.Logout(tokens.Bearer(t.Context(), access), &authv1.LogoutRequest{}); err != nil {
					t.Fatal(err)
				}
			},
		}
	}
}

// A session revoked by another process (another authd, `authd user
// disable`) is seen once the engine's answer is a cache TTL old; one
// revoked by this engine is forgotten at once, so it is refused on the
// next call.
func TestSessions_OwnRevocationsShowAtOnceOthersWithinTheTTL(t *testing.T) {
	e := newAuthd(t)
	a, b := loginTo(e)(t).Claims, loginTo(e)(t).Claims
	check := func(c *token.Claims) bool {
		t.Helper()
		revoked, err := e.Sessions.Revoked(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		return revoked
	}
	if check(a) || check(b) {
		t.Fatal("new sessions are revoked")
	}
	if err := e.DB.RevokeSession(t.Context(), a.SessionID, e.Clock.Now()); err != nil { // by another process
		t.Fatal(err)
	}
	if err := e.Sessions.Revoke(t.Context(), b.SessionID); err != nil { // by this one
		t.Fatal(err)
	}
	if ra, rb := check(a), check(b); ra || !rb {
		t.Fatalf("at once: a revoked %v, b revoked %v; want false, true", ra, rb)
	}
	e.Clock.Advance(session.DefaultCacheTTL)
	if ra, rb := check(a), check(b); !ra || !rb {
		t.Fatalf("a cache TTL later: a revoked %v, b revoked %v; want true, true", ra, rb)
	}
}
