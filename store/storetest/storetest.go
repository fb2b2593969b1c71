package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// Run runs the whole suite; open must return a new, empty store each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users/CreateAndGet", testCreateAndGet},
		{"Users/DuplicateLeavesExistingUntouched", testDuplicateUser},
		{"Users/UniqueAndFoundUnderTheirKey", testNameKeys},
		{"Users/UnknownIsNotFound", testUnknownUser},
		{"Users/ListIsOrderedByName", testListUsers},
		{"Users/SetPasswordAndDisable", testUpdateUser},
		{"Users/RolesReadWithUserAndSessions", testRoles},
		{"Clients/CreateFindListDisable", testClients},
		{"Sessions/ListLiveOfOneUser", testListSessions},
		{"Sessions/ListPaged", testListSessionsPaged},
		{"Sessions/RevokeTheOldestPastTheBound", testRevokeExcessSessions},
		{"Sessions/OnlyForTheUsersCurrentGeneration", testUserGeneration},
		{"Sessions/PrunePastTheirCap", testPruneSessions},
		{"Users/RehashKeepsTheGeneration", testRehash},
		{"Sessions/CreateAndGet", testSessionRoundTrip},
		{"Sessions/Binding", testSessionBinding},
		{"Clients/RequireBinding", testRequireBinding},
		{"Sessions/UnknownIsNotFound", testUnknownSession},
		{"Sessions/RotateIsCompareAndSwap", testRotateCAS},
		{"Sessions/ConcurrentRotateHasOneWinner", testConcurrentRotate},
		{"Sessions/ConcurrentRotationsOfManySessions", testConcurrentRotations},
		{"Sessions/RotateWithADoneContextChangesNothing", testRotateDoneContext},
		{"Sessions/RevokeStopsRotation", testRevoke},
		{"Sessions/RevokeUserSessionsEndedByAChange", testRevokeUserSessions},
		{"Users/NoOpChangesKeepTheGeneration", testNoOpChanges},
		{"Revocations/ListedInOrderWithCursor", testListRevocations},
		{"SigningKeys/AddListDelete", testSigningKeys},
	}
	for _, tt := range append(append(tests, secondFactorTests...), ceremonyTests...) {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
	RunThrottles(t, func(t *testing.T) store.Throttles {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// RunThrottles runs the login-failure counter cases on counters from open
// (the SQL stores, and Redis).
func RunThrottles(t *testing.T, open func(t *testing.T) store.Throttles) {
	t.Run("Throttles/ReserveAndSettle", func(t *testing.T) { testLoginAttempts(t, open(t)) })
	t.Run("Throttles/AttemptsInFlightExpireOnTheirOwn", func(t *testing.T) { testAttemptsInFlightExpireOnTheirOwn(t, open(t)) })
	t.Run("Throttles/InFlightBoundApartFromFailures", func(t *testing.T) { testInFlightApartFromFailures(t, open(t)) })
	t.Run("Throttles/ConcurrentReservationsHoldTheLimit", func(t *testing.T) { testConcurrentReservations(t, open(t)) })
	t.Run("Throttles/ConcurrentAttemptsSettleWithoutDeadlock", func(t *testing.T) { testConcurrentAttemptsSettle(t, open(t)) })
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	created, err := s.CreateUser(ctx, "alice", "$argon2id$hash", t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != created.ID || got.Name != "alice" || got.PasswordHash != "$argon2id$hash" || got.Disabled ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("UserByName = %+v, created %+v", got, created)
	}
}

func testDuplicateUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	if _, err := s.CreateUser(ctx, "alice", "other", t0.Add(time.Hour)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateUser err = %v, want ErrExists", err)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got.PasswordHash != "hash-alice" || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("existing user changed: %+v, %v", got, err)
	}
}

// testNameKeys: names are unique under their store.NameKey, across people
// and service accounts; UserByName finds the exact name, else its key.
func testNameKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	if _, err := s.CreateClient(ctx, "client:billing", "cid-1", "h", nil, t0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ALICE", "Alice", "ａｌｉｃｅ", "Client:Billing"} {
		if _, err := s.CreateUser(ctx, name, "h", t0); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(%q) beside alice and client:billing: %v, want ErrExists", name, err)
		}
	}
	for spelling, want := range map[string]string{"alice": "alice", "ALICE": "alice", "ａｌｉｃｅ": "alice", "CLIENT:BILLING": "client:billing"} {
		if got, err := s.UserByName(ctx, spelling); err != nil || got.Name != want {
			t.Errorf("UserByName(%q) = %q, %v; want %q", spelling, got.Name, err, want)
		}
	}
}

// LegacyNames checks what a store does with users created before names
// had keys (inserted by insert, with no key), once reopened (reopen):
// every one is found by its exact name, even two whose keys collide
// ("Alice" beside "alice"); the oldest of them takes the key, so that
// other spellings find it and no new name can take it; a name that does
// not conform (a space) is found too.
func LegacyNames(t *testing.T, insert func(t *testing.T, name string), reopen func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, name := range []string{"Alice", "alice", "bad name"} {
		insert(t, name)
	}
	s := reopen(t)
	for spelling, want := range map[string]string{"Alice": "Alice", "alice": "alice", "ALICE": "Alice", "bad name": "bad name", "Bad Name": "bad name"} {
		if got, err := s.UserByName(ctx, spelling); err != nil || got.Name != want {
			t.Errorf("UserByName(%q) = %q, %v; want %q", spelling, got.Name, err, want)
		}
	}
	for _, name := range []string{"ALICE", "aLiCe"} {
		if _, err := s.CreateUser(ctx, name, "h", t0); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(%q) beside legacy Alice and alice: %v, want ErrExists", name, err)
		}
	}
}

func testUnknownUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.UserByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UserByName err = %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, "nobody", "h", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPassword err = %v, want ErrNotFound", err)
	}
	if err := s.SetDisabled(ctx, "nobody", true, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDisabled err = %v, want ErrNotFound", err)
	}
}

func testListUsers(t *testing.T, s store.Store) {
	for _, name := range []string{"carol", "alice", "bob"} {
		mustUser(t, s, name)
	}
	users, err := s.ListUsers(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if fmt.Sprint(names) != "[alice bob carol]" {
		t.Fatalf("ListUsers names = %v", names)
	}
	page, err := s.ListUsers(context.Background(), "alice", 1)
	if err != nil || len(page) != 1 || page[0].Name != "bob" {
		t.Fatalf("ListUsers after alice, limit 1 = %v, %v; want [bob]", page, err)
	}
	if page, err := s.ListUsers(context.Background(), "carol", 10); err != nil || len(page) != 0 {
		t.Fatalf("ListUsers after the last = %v, %v; want none", page, err)
	}
}

// testClients: service accounts are users with a client id and scopes,
// found by client id, listed apart from the people, and their names and
// ids are unique across both.
func testClients(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	scopes := []string{"orders:read", "orders:write"}
	c, err := s.CreateClient(ctx, "client:billing", "cid-1", "secret-hash", scopes, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ClientByID(ctx, "cid-1")
	if err != nil || got.ID != c.ID || got.Name != "client:billing" || got.PasswordHash != "secret-hash" ||
		!reflect.DeepEqual(got.Scopes, scopes) || got.ClientID != "cid-1" || got.Disabled {
		t.Fatalf("ClientByID = %+v, %v", got, err)
	}
	if byName, err := s.UserByName(ctx, "client:billing"); err != nil || byName.ClientID != "cid-1" {
		t.Fatalf("UserByName of a client = %+v, %v", byName, err)
	}
	if _, err := s.CreateClient(ctx, "client:billing", "cid-2", "h", nil, t0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate client name: %v, want ErrExists", err)
	}
	if _, err := s.CreateClient(ctx, "client:other", "cid-1", "h", nil, t0); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate client id: %v, want ErrExists", err)
	}
	if _, err := s.ClientByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown client id: %v, want ErrNotFound", err)
	}
	if _, err := s.ClientByID(ctx, ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("empty client id: %v, want ErrNotFound (people have none)", err)
	}
	users, err := s.ListUsers(ctx, "", 0)
	if err != nil || len(users) != 1 || users[0].Name != "alice" {
		t.Fatalf("ListUsers = %v, %v; want only alice", users, err)
	}
	clients, err := s.ListClients(ctx)
	if err != nil || len(clients) != 1 || clients[0].ClientID != "cid-1" {
		t.Fatalf("ListClients = %v, %v", clients, err)
	}
	if err := s.SetDisabled(ctx, "client:billing", true, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClientByID(ctx, "cid-1"); !got.Disabled {
		t.Fatal("client not disabled")
	}
}

// testUserGeneration: a session is created and rotated only while its user
// is enabled and at the generation it was opened under; every password,
// roles or disabled change moves the generation in the same statement.
func testUserGeneration(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	for name, change := range map[string]func() error{
		"password": func() error { return s.SetPassword(ctx, "alice", "new-hash", t0) },
		"roles":    func() error { return s.SetRoles(ctx, "alice", []string{"r"}, t0) },
		"disabled": func() error { return s.SetDisabled(ctx, "alice", true, t0) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.SetDisabled(ctx, "alice", false, t0); err != nil {
				t.Fatal(err)
			}
			cur, err := s.UserByName(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			live := newSession(cur, "live-"+name)
			live.UserGeneration = cur.Generation
			if err := s.CreateSession(ctx, live); err != nil {
				t.Fatal(err)
			}
			if err := change(); err != nil {
				t.Fatal(err)
			}
			after, _ := s.UserByName(ctx, "alice")
			if after.Generation == cur.Generation {
				t.Fatalf("%s change left the generation at %d", name, cur.Generation)
			}
			// A login that checked the password before the change cannot
			// open its session after it.
			raced := newSession(cur, "raced-"+name)
			raced.UserGeneration = cur.Generation
			if err := s.CreateSession(ctx, raced); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("session of the old generation: %v, want ErrConflict", err)
			}
			// One opened before cannot rotate, and reads as revoked.
			if err := s.Rotate(ctx, live.ID, "r1", rotation("r2", t0), t0); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Rotate of a stale session: %v, want ErrConflict", err)
			}
			if got, err := s.Session(ctx, live.ID); err != nil || !got.Stale || !got.Revoked() {
				t.Fatalf("stale session reads %+v, %v", got, err)
			}
		})
	}
	// The session kept by RevokeUserSessions follows the user's generation.
	if err := s.SetDisabled(ctx, "alice", false, t0); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.UserByName(ctx, "alice")
	kept, other := newSession(cur, "kept"), newSession(cur, "other")
	kept.UserGeneration, other.UserGeneration = cur.Generation, cur.Generation
	for _, sess := range []store.Session{kept, other} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPassword(ctx, "alice", "newer", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeUserSessions(ctx, cur.ID, "kept", t0); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, "kept"); err != nil || got.Revoked() {
		t.Fatalf("the kept session: %+v, %v", got, err)
	}
	if err := s.Rotate(ctx, "kept", "r1", rotation("r2", t0), t0); err != nil {
		t.Fatalf("the kept session rotates: %v", err)
	}
	if got, _ := s.Session(ctx, "other"); !got.Revoked() {
		t.Fatal("the other session survived")
	}
}

// testRehash: a rehash replaces the hash only when it is still the one
// checked, and leaves the generation (and so the sessions) alone.
func testRehash(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	if err := s.RehashPassword(ctx, "alice", u.PasswordHash, "stronger"); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got.PasswordHash != "stronger" || got.Generation != u.Generation {
		t.Fatalf("after a rehash: %+v, %v (generation was %d)", got, err, u.Generation)
	}
	// A password changed meanwhile is not overwritten by a late rehash.
	if err := s.SetPassword(ctx, "alice", "new-password-hash", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.RehashPassword(ctx, "alice", "stronger", "late"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByName(ctx, "alice"); got.PasswordHash != "new-password-hash" {
		t.Fatalf("a late rehash overwrote a password change: %q", got.PasswordHash)
	}
}

// testPruneSessions: sessions past their cap go, the others stay.
func testPruneSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	old, live := newSession(u, "old"), newSession(u, "live")
	old.ExpiresAt = t0.Add(time.Hour)
	for _, sess := range []store.Session{old, live} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "live", t0); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneSessions(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneSessions = %d, %v; want 1", n, err)
	}
	if _, err := s.Session(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the pruned session: %v", err)
	}
	if got, err := s.Session(ctx, "live"); err != nil || !got.Revoked() {
		t.Fatalf("a revoked session within its cap must stay listed: %+v, %v", got, err)
	}
}

// testListSessions: the live sessions of one user, newest first.
func testListSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	older, newer, revoked, capped := newSession(alice, "a-old"), newSession(alice, "a-new"), newSession(alice, "a-rev"), newSession(alice, "a-cap")
	newer.CreatedAt = older.CreatedAt.Add(time.Minute)
	capped.ExpiresAt = t0.Add(time.Minute)
	for _, sess := range []store.Session{older, newer, revoked, capped, newSession(bob, "b1")} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "a-rev", t0); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListSessions(ctx, alice.ID, store.SessionCursor{}, 0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, sess := range got {
		ids = append(ids, sess.ID)
		if sess.UserID != alice.ID || sess.ExpiresAt.IsZero() {
			t.Errorf("session %+v", sess)
		}
	}
	if fmt.Sprint(ids) != "[a-new a-old]" {
		t.Fatalf("ListSessions = %v, want [a-new a-old] (revoked and capped ones left out)", ids)
	}
}

// testListSessionsPaged: page by page, newest first, sessions opened in the
// same second neither lost nor repeated.
func testListSessionsPaged(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := mustUser(t, s, "alice")
	var want []string
	for i := range 7 {
		sess := newSession(alice, fmt.Sprint("s", i))
		sess.CreatedAt = t0.Add(time.Duration(i/3) * time.Second) // three per second
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "s6", "s3", "s4", "s5", "s0", "s1", "s2") // newest second first, ids ascending within
	var got []string
	cursor := store.SessionCursor{}
	for range 10 {
		page, err := s.ListSessions(ctx, alice.ID, cursor, 2, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of %d, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, sess := range page {
			got = append(got, sess.ID)
		}
		last := page[len(page)-1]
		cursor = store.SessionCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("paged = %v, want %v", got, want)
	}
}

// testRevokeExcessSessions: past the bound the oldest live sessions are
// revoked, never the one kept, and their ids returned; within it nothing.
func testRevokeExcessSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	for i := range 5 {
		sess := newSession(alice, fmt.Sprint("a", i))
		sess.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, newSession(bob, "b0")); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.RevokeExcessSessions(ctx, alice.ID, "a4", 5, t0); err != nil || len(ids) != 0 {
		t.Fatalf("within the bound: %v, %v; want nothing revoked", ids, err)
	}
	// The kept session is the oldest here (a login in the same second as
	// others may sort anywhere): it stays, and two others go.
	ids, err := s.RevokeExcessSessions(ctx, alice.ID, "a0", 3, t0)
	slices.Sort(ids)
	if err != nil || fmt.Sprint(ids) != "[a1 a2]" {
		t.Fatalf("bound 3 keeping a0: %v, %v; want [a1 a2]", ids, err)
	}
	for id, revoked := range map[string]bool{"a0": false, "a1": true, "a2": true, "a3": false, "a4": false, "b0": false} {
		if got, err := s.Session(ctx, id); err != nil || got.Revoked() != revoked {
			t.Errorf("session %s: revoked %v, %v; want %v", id, got.Revoked(), err, revoked)
		}
	}
	ids, err = s.RevokeExcessSessions(ctx, alice.ID, "a4", 1, t0)
	slices.Sort(ids)
	if err != nil || fmt.Sprint(ids) != "[a0 a3]" {
		t.Fatalf("bound 1 keeping a4: %v, %v; want [a0 a3]", ids, err)
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustUser(t, s, "alice")
	later := t0.Add(time.Minute)
	if err := s.SetPassword(ctx, "alice", "new-hash", later); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "alice", true, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil || got.PasswordHash != "new-hash" || !got.Disabled || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after updates: %+v, %v", got, err)
	}
	if err := s.SetDisabled(ctx, "alice", false, later); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UserByName(ctx, "alice"); got.Disabled {
		t.Fatal("user still disabled after enabling")
	}
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	u := mustUser(t, s, "alice")
	want := newSession(u, "sid-1")
	if err := s.CreateSession(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(context.Background(), want); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate CreateSession err = %v, want ErrExists", err)
	}
	got, err := s.Session(context.Background(), "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Session =\n %+v\nwant\n %+v", got, want)
	}
}

// testSessionBinding: a session's binding (a DPoP key's thumbprint, a
// certificate's) is stored and read back, and kept by rotations.
func testSessionBinding(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	want := newSession(u, "sid-bound")
	want.KeyThumbprint, want.CertificateThumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, want.ID, want.Current.RefreshJTI, rotation("next", t0.Add(time.Minute)), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, want.ID)
	if err != nil || got.KeyThumbprint != want.KeyThumbprint || got.CertificateThumbprint != want.CertificateThumbprint {
		t.Fatalf("Session = %+v, %v; want the binding kept", got, err)
	}
}

// testRequireBinding: a service account's RequireBinding is set, read back
// with the account, and refused for a person or an unknown name.
func testRequireBinding(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateClient(ctx, "billing", "cid-billing", "hash", []string{"orders:read"}, t0); err != nil {
		t.Fatal(err)
	}
	mustUser(t, s, "alice")
	if err := s.SetRequireBinding(ctx, "billing", true, t0); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ClientByID(ctx, "cid-billing"); err != nil || !c.RequireBinding {
		t.Fatalf("ClientByID = %+v, %v; want RequireBinding", c, err)
	}
	for _, name := range []string{"alice", "nobody"} {
		if err := s.SetRequireBinding(ctx, name, true, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetRequireBinding(%s) = %v, want ErrNotFound", name, err)
		}
	}
	if err := s.SetRequireBinding(ctx, "billing", false, t0); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.ClientByID(ctx, "cid-billing"); c.RequireBinding {
		t.Fatal("RequireBinding still set")
	}
}

// testRoles: a user's roles are stored as given and read back with the
// user and with each of its sessions, so a refresh sees the roles of now.
func testRoles(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	if len(u.Roles) != 0 {
		t.Fatalf("new user has roles %v", u.Roles)
	}
	if err := s.CreateSession(ctx, newSession(u, "sid-r")); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Minute)
	roles := []string{"authd:admin", "support", "orders.read-1_x"}
	if err := s.SetRoles(ctx, "alice", roles, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "alice")
	if err != nil || !reflect.DeepEqual(got.Roles, roles) || !got.UpdatedAt.Equal(later) {
		t.Fatalf("after SetRoles: %+v, %v", got, err)
	}
	sess, err := s.Session(ctx, "sid-r")
	if err != nil || !reflect.DeepEqual(sess.Roles, roles) {
		t.Fatalf("session roles = %v, %v; want %v", sess.Roles, err, roles)
	}
	if err := s.SetRoles(ctx, "alice", nil, later); err != nil {
		t.Fatal(err)
	}
	if sess, _ := s.Session(ctx, "sid-r"); sess.Roles != nil {
		t.Fatalf("roles after removing all: %q", sess.Roles)
	}
	if err := s.SetRoles(ctx, "nobody", roles, later); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetRoles of an unknown user: %v, want ErrNotFound", err)
	}
}

func testUnknownSession(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Session(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeSession(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeSession err = %v, want ErrNotFound", err)
	}
}

func testRotateCAS(t *testing.T, s store.Store) {
	ctx := context.Background()
	sess := newSession(mustUser(t, s, "alice"), "sid-1")
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	next := rotation("r2", t0.Add(time.Hour))
	spentAt := t0.Add(time.Hour)
	if err := s.Rotate(ctx, "sid-1", "r1", next, spentAt); err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, "sid-1", "r1", rotation("r3", t0), spentAt); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a spent token err = %v, want ErrConflict", err)
	}
	got, err := s.Session(ctx, "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != next || got.Previous != sess.Current || got.PreviousParentJTI != "" || !got.PreviousSpentAt.Equal(spentAt) {
		t.Fatalf("after rotate: %+v", got)
	}
	// A second rotation keeps the pair it replaced in full, and the token
	// spent to mint that pair: enough to mint it again for a late twin.
	later := spentAt.Add(time.Minute)
	if err := s.Rotate(ctx, "sid-1", "r2", rotation("r3", later), later); err != nil {
		t.Fatal(err)
	}
	got, err = s.Session(ctx, "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != rotation("r3", later) || got.Previous != next || got.PreviousParentJTI != "r1" || !got.PreviousSpentAt.Equal(later) {
		t.Fatalf("after the second rotation: %+v", got)
	}
}

func testConcurrentRotate(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateSession(ctx, newSession(mustUser(t, s, "alice"), "sid-1")); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Rotate(ctx, "sid-1", "r1", rotation(fmt.Sprintf("next-%d", i), t0), t0)
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("Rotate err = %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent rotations succeeded, want exactly 1", wins)
	}
}

// Many sessions rotated at once (SQLite commits them in groups): each
// session's rotation has exactly one winner, its successor is the winner's,
// and a revoked session among them is refused without failing the others.
func testConcurrentRotations(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := mustUser(t, s, "alice")
	const sessions, racers = 24, 3
	for i := range sessions {
		if err := s.CreateSession(ctx, newSession(alice, fmt.Sprint("sid-", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeSession(ctx, "sid-0", t0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([][racers]error, sessions)
	for i := range sessions {
		for r := range racers {
			wg.Go(func() {
				errs[i][r] = s.Rotate(ctx, fmt.Sprint("sid-", i), "r1", rotation(fmt.Sprintf("next-%d-%d", i, r), t0), t0)
			})
		}
	}
	wg.Wait()
	for i := range sessions {
		winner := -1
		for r, err := range errs[i] {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("sid-%d: racers %d and %d both rotated", i, winner, r)
			case err == nil:
				winner = r
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("sid-%d: Rotate = %v, want nil or ErrConflict", i, err)
			}
		}
		got, err := s.Session(ctx, fmt.Sprint("sid-", i))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 0 && (winner >= 0 || got.Current.RefreshJTI != "r1"):
			t.Errorf("the revoked session was rotated: winner %d, current %q", winner, got.Current.RefreshJTI)
		case i > 0 && winner < 0:
			t.Errorf("sid-%d: no rotation succeeded", i)
		case i > 0 && got.Current.RefreshJTI != fmt.Sprintf("next-%d-%d", i, winner):
			t.Errorf("sid-%d: current %q, want the winner's next-%d-%d", i, got.Current.RefreshJTI, i, winner)
		}
	}
}

// A rotation whose caller has gone changes nothing: the client still holds
// the token, and must be able to spend it.
func testRotateDoneContext(t *testing.T, s store.Store) {
	if err := s.CreateSession(context.Background(), newSession(mustUser(t, s, "alice"), "sid-1")); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Rotate(done, "sid-1", "r1", rotation("r2", t0), t0); err == nil {
		t.Fatal("Rotate with a done context succeeded")
	}
	if err := s.Rotate(context.Background(), "sid-1", "r1", rotation("r3", t0), t0); err != nil {
		t.Fatalf("the token was spent by the abandoned rotation: %v", err)
	}
}

func testRevoke(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateSession(ctx, newSession(mustUser(t, s, "alice"), "sid-1")); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	if err := s.RevokeSession(ctx, "sid-1", at); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, "sid-1", at.Add(time.Hour)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	got, err := s.Session(ctx, "sid-1")
	if err != nil || !got.Revoked() || !got.RevokedAt.Equal(at) {
		t.Fatalf("after revoke: %+v, %v (want revoked at the first revocation)", got, err)
	}
	if err := s.Rotate(ctx, "sid-1", "r1", rotation("r2", t0), at); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Rotate on revoked session err = %v, want ErrConflict", err)
	}
}

// testRevokeUserSessions: after a change of the user, the sessions it
// ended are revoked, but the one kept, which follows the user; a session
// opened since, and any session after no change at all, are left alone.
func testRevokeUserSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	for _, sess := range []store.Session{newSession(alice, "a1"), newSession(alice, "a2"), newSession(alice, "a3"), newSession(bob, "b1")} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.RevokeUserSessions(ctx, alice.ID, "", t0); err != nil || n != 0 {
		t.Fatalf("RevokeUserSessions with no change = %d, %v; want 0", n, err)
	}
	if err := s.SetPassword(ctx, "alice", "new-hash", t0); err != nil {
		t.Fatal(err)
	}
	changed, _ := s.UserByName(ctx, "alice")
	since := newSession(changed, "a4")
	since.UserGeneration = changed.Generation
	if err := s.CreateSession(ctx, since); err != nil {
		t.Fatal(err)
	}
	n, err := s.RevokeUserSessions(ctx, alice.ID, "a2", t0)
	if err != nil || n != 2 {
		t.Fatalf("RevokeUserSessions = %d, %v; want 2", n, err)
	}
	for id, revoked := range map[string]bool{"a1": true, "a2": false, "a3": true, "a4": false, "b1": false} {
		got, err := s.Session(ctx, id)
		if err != nil || got.Revoked() != revoked {
			t.Errorf("session %s revoked = %v (err %v), want %v", id, got.Revoked(), err, revoked)
		}
	}
	if n, err := s.RevokeUserSessions(ctx, alice.ID, "", t0); err != nil || n != 0 {
		t.Fatalf("again = %d, %v; want 0 (the others already revoked, the kept one current)", n, err)
	}
	// A disabled user's sessions are all over.
	if err := s.SetDisabled(ctx, "alice", true, t0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeUserSessions(ctx, alice.ID, "", t0); err != nil || n != 2 {
		t.Fatalf("after disabling = %d, %v; want 2", n, err)
	}
}

// testNoOpChanges: disabling a disabled user, enabling an enabled one or
// setting the roles a user has leaves the generation, and so every
// session, alone; the changes themselves move it once each.
func testNoOpChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	if err := s.SetRoles(ctx, "alice", []string{"a", "b"}, t0); err != nil {
		t.Fatal(err)
	}
	gen := func() int64 {
		t.Helper()
		got, err := s.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return got.Generation
	}
	g := gen()
	if g != u.Generation+1 {
		t.Fatalf("setting roles: generation %d, want %d", g, u.Generation+1)
	}
	later := t0.Add(time.Hour)
	for name, change := range map[string]func() error{
		"enable an enabled user": func() error { return s.SetDisabled(ctx, "alice", false, later) },
		"set the same roles":     func() error { return s.SetRoles(ctx, "alice", []string{"a", "b"}, later) },
	} {
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if got := gen(); got != g {
			t.Fatalf("%s moved the generation %d -> %d", name, g, got)
		}
		if got, _ := s.UserByName(ctx, "alice"); !got.UpdatedAt.Equal(t0) {
			t.Fatalf("%s moved updated_at to %v", name, got.UpdatedAt)
		}
	}
	if err := s.SetDisabled(ctx, "alice", true, later); err != nil {
		t.Fatal(err)
	}
	if got := gen(); got != g+1 {
		t.Fatalf("disabling: generation %d, want %d", got, g+1)
	}
	if err := s.SetDisabled(ctx, "alice", true, later); err != nil {
		t.Fatal(err)
	}
	if got := gen(); got != g+1 {
		t.Fatalf("disabling a disabled user: generation %d, want %d", got, g+1)
	}
}

func mustUser(t *testing.T, s store.Store, name string) store.User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), name, "hash-"+name, t0)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func rotation(refreshJTI string, at time.Time) store.Rotation {
	return store.Rotation{
		RefreshJTI: refreshJTI, RefreshIssuedAt: at, RefreshExpiresAt: at.Add(24 * time.Hour),
		AccessJTI: "a-" + refreshJTI, AccessIssuedAt: at, AccessExpiresAt: at.Add(15 * time.Minute),
	}
}

func newSession(u store.User, id string) store.Session {
	return store.Session{
		ID: id, UserID: u.ID, Username: u.Name,
		AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(168 * time.Hour),
		Current: rotation("r1", t0),
	}
}

func testListRevocations(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := mustUser(t, s, "alice")
	// s1 and s2 are revoked in the same second, s3 later; s4 stays live;
	// s5 is revoked but past its cap.
	for _, id := range []string{"s1", "s2", "s3", "s4", "s5"} {
		sess := newSession(alice, id)
		if id == "s5" {
			sess.ExpiresAt = t0.Add(time.Hour)
		}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	for id, at := range map[string]time.Time{"s2": t0, "s1": t0, "s3": t0.Add(time.Second), "s5": t0} {
		if err := s.RevokeSession(ctx, id, at); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Hour)
	all, err := s.ListRevocations(ctx, store.RevocationCursor{}, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range all {
		ids = append(ids, r.SessionID)
	}
	if fmt.Sprint(ids) != "[s1 s2 s3]" {
		t.Fatalf("revocations = %v, want [s1 s2 s3] (ordered, live and past-cap sessions left out)", ids)
	}
	if !all[2].RevokedAt.Equal(t0.Add(time.Second)) || !all[0].ExpiresAt.Equal(t0.Add(168*time.Hour)) {
		t.Fatalf("revocation times: %+v", all)
	}
	// Page by page, ties in the same second are neither lost nor repeated.
	var paged []string
	cursor := store.RevocationCursor{}
	for {
		page, err := s.ListRevocations(ctx, cursor, now, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page[0].SessionID)
		cursor = store.RevocationCursor{RevokedAt: page[0].RevokedAt, SessionID: page[0].SessionID}
	}
	if fmt.Sprint(paged) != "[s1 s2 s3]" {
		t.Fatalf("paged revocations = %v", paged)
	}
	later, err := s.ListRevocations(ctx, store.RevocationCursor{RevokedAt: t0, SessionID: "s2"}, now, 100)
	if err != nil || len(later) != 1 || later[0].SessionID != "s3" {
		t.Fatalf("after (t0, s2): %+v, %v; want s3", later, err)
	}
}

// testLoginAttempts: attempts are reserved before they are checked and
// settled after; failures count against the limits, and attempts in flight
// too (as failures until settled, or against their own bound); refused
// attempts count nothing; idle counters are forgotten.
func testLoginAttempts(t *testing.T, s store.Throttles) {
	ctx := context.Background()
	window := time.Hour
	limits := []store.ThrottleLimit{
		{Key: "u+a:alice@1", Free: 2, Base: time.Second, Max: 4 * time.Second},
		{Key: "a:1", Free: 5, Base: time.Second, Max: time.Minute},
	}
	keys := []string{limits[0].Key, limits[1].Key}
	now := t0
	n := 0
	var last string // the attempt reserved last
	reserve := func(want time.Duration, inFlight bool) {
		t.Helper()
		n++
		last = fmt.Sprint("attempt-", n)
		got, err := s.ReserveLoginAttempt(ctx, last, limits, now, now.Add(-window))
		if err != nil || got != (store.ThrottleWait{Wait: want, InFlight: inFlight}) {
			t.Fatalf("at %s: Reserve = %+v, %v; want %s (in flight %v)", now.Sub(t0), got, err, want, inFlight)
		}
	}
	settle := func(attempt string, failed bool, clear []string) {
		t.Helper()
		if err := s.FinishLoginAttempt(ctx, attempt, keys, failed, clear, now); err != nil {
			t.Fatal(err)
		}
	}
	// Two free attempts, both in flight: the third must wait though none
	// has failed yet; it is the attempts in flight that refuse it.
	reserve(0, false)
	first := last
	reserve(0, false)
	second := last
	reserve(store.InFlightRetry, true)
	settle(first, true, nil)
	settle(second, true, nil)
	reserve(time.Second, false) // two failures: the next waits Base after the last
	now = now.Add(time.Second)
	reserve(0, false)
	settle(last, true, nil)
	reserve(2*time.Second, false) // three failures: doubled
	now = now.Add(2 * time.Second)
	reserve(0, false)
	settle(last, true, nil)
	now = now.Add(time.Second)
	reserve(3*time.Second, false) // capped at Max 4 s, one of them gone
	// A success clears the account's counter, not the address's, and ends
	// the attempt in flight there.
	now = now.Add(3 * time.Second)
	reserve(0, false)
	settle(last, false, keys[:1])
	reserve(0, false)        // the account counter is new; the address has 4 failures, none in flight
	settle(last, false, nil) // neither failed nor cleared: released
	// An attempt whose process died (never settled) counts as a failure,
	// then stops counting InFlightTTL after its reservation.
	reserve(0, false)
	reserve(store.InFlightRetry, true) // 4 failures + 1 in flight reach the address's 5
	now = now.Add(store.InFlightTTL)
	reserve(0, false)
	settle(last, false, nil)
	// Counters idle for the window are forgotten.
	now = now.Add(window + time.Minute)
	for range 2 {
		reserve(0, false)
	}
}

// testAttemptsInFlightExpireOnTheirOwn: an attempt never settled (its
// process was killed) stops counting InFlightTTL after it was reserved,
// however busy its key stays meanwhile; one settled stops at once, and
// settling one attempt ends only that one.
func testAttemptsInFlightExpireOnTheirOwn(t *testing.T, s store.Throttles) {
	ctx := context.Background()
	limits := []store.ThrottleLimit{{Key: "a:busy", Free: 1000, Base: time.Second, Max: time.Minute, InFlight: 2}}
	keys := []string{limits[0].Key}
	reserve := func(attempt string, at time.Time) store.ThrottleWait {
		t.Helper()
		w, err := s.ReserveLoginAttempt(ctx, attempt, limits, at, at.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	if w := reserve("killed-1", t0); w.Refused() {
		t.Fatalf("first attempt: %+v", w)
	}
	if w := reserve("killed-2", t0.Add(time.Second)); w.Refused() {
		t.Fatalf("second attempt: %+v", w)
	}
	// The two dead attempts fill the bound; the address keeps trying every
	// few seconds, each refused, which must not keep them alive.
	at := t0.Add(2 * time.Second)
	for ; at.Before(t0.Add(store.InFlightTTL)); at = at.Add(3 * time.Second) {
		if w := reserve("honest", at); w != (store.ThrottleWait{Wait: store.InFlightRetry, InFlight: true}) {
			t.Fatalf("at %s, both dead attempts in flight: %+v, want refused for attempts in flight", at.Sub(t0), w)
		}
	}
	// The first expired; the second is still within its TTL.
	at = t0.Add(store.InFlightTTL)
	if w := reserve("honest-1", at); w.Refused() {
		t.Fatalf("at the first dead attempt's expiry: %+v", w)
	}
	if w := reserve("honest-2", at); !w.InFlight {
		t.Fatalf("the second dead attempt and honest-1 in flight: %+v, want refused", w)
	}
	if err := s.FinishLoginAttempt(ctx, "honest-1", keys, false, nil, at); err != nil {
		t.Fatal(err)
	}
	if w := reserve("honest-3", at); w.Refused() {
		t.Fatalf("after honest-1 settled: %+v", w)
	}
	if w := reserve("honest-4", at); !w.InFlight {
		t.Fatalf("killed-2 and honest-3 in flight: %+v, want refused", w)
	}
	at = t0.Add(time.Second + store.InFlightTTL)
	if w := reserve("honest-5", at); w.Refused() {
		t.Fatalf("after the second dead attempt's expiry: %+v", w)
	}
}

// testInFlightApartFromFailures: with an InFlight bound, attempts in flight
// are bounded on their own and are not failures: as many as the bound go
// ahead at once whatever Free is, and a refusal for them says so; failures
// refuse as failures.
func testInFlightApartFromFailures(t *testing.T, s store.Throttles) {
	ctx := context.Background()
	limits := []store.ThrottleLimit{{Key: "a:nat", Free: 2, Base: time.Second, Max: 10 * time.Second, InFlight: 4}}
	keys := []string{limits[0].Key}
	for i := range 4 {
		if w, err := s.ReserveLoginAttempt(ctx, fmt.Sprint("in-flight-", i), limits, t0, t0.Add(-time.Hour)); err != nil || w.Refused() {
			t.Fatalf("attempt %d in flight of a bound of 4 (Free 2): %+v, %v", i, w, err)
		}
	}
	if w, err := s.ReserveLoginAttempt(ctx, "fifth", limits, t0, t0.Add(-time.Hour)); err != nil || w != (store.ThrottleWait{Wait: store.InFlightRetry, InFlight: true}) {
		t.Fatalf("a fifth at once: %+v, %v; want refused for attempts in flight", w, err)
	}
	for i := range 4 {
		if err := s.FinishLoginAttempt(ctx, fmt.Sprint("in-flight-", i), keys, i < 2, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if w, err := s.ReserveLoginAttempt(ctx, "after", limits, t0, t0.Add(-time.Hour)); err != nil || w != (store.ThrottleWait{Wait: time.Second}) {
		t.Fatalf("after two failures: %+v, %v; want a failures' wait of 1s", w, err)
	}
}

// testConcurrentAttemptsSettle: many logins of one account at once, each
// reserving, then settling as a failure or a success (which clears the
// account's counters), never fail for the store's sake: no deadlock between
// a reservation and a settlement taking the same rows.
func testConcurrentAttemptsSettle(t *testing.T, s store.Throttles) {
	ctx := context.Background()
	limits := []store.ThrottleLimit{
		{Key: "u+a:carol@3", Free: 1000, Base: time.Second, Max: time.Minute},
		{Key: "a:3", Free: 1000, Base: time.Second, Max: time.Minute},
		{Key: "u:carol", Free: 1000, Base: time.Second, Max: time.Minute},
	}
	keys := []string{limits[0].Key, limits[1].Key, limits[2].Key}
	var wg sync.WaitGroup
	errs := make(chan error, 16*10)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				attempt := fmt.Sprint("attempt-", g, "-", i)
				wait, err := s.ReserveLoginAttempt(ctx, attempt, limits, t0, t0.Add(-time.Hour))
				if err != nil {
					errs <- err
					return
				}
				if wait.Refused() {
					continue
				}
				failed := (g+i)%2 == 0
				var clear []string
				if !failed {
					clear = []string{keys[0], keys[2]}
				}
				if err := s.FinishLoginAttempt(ctx, attempt, keys, failed, clear, t0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// testConcurrentReservations: of many concurrent attempts against one
// counter, exactly as many as it allows go ahead.
func testConcurrentReservations(t *testing.T, s store.Throttles) {
	ctx := context.Background()
	for _, l := range []store.ThrottleLimit{
		{Key: "u+a:bob@2", Free: 5, Base: time.Second, Max: time.Minute}, // in flight counts as failures
		{Key: "a:2", Free: 1, Base: time.Second, Max: time.Minute, InFlight: 5},
	} {
		const n = 40
		var wg sync.WaitGroup
		var allowed, refused atomic.Int64
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				wait, err := s.ReserveLoginAttempt(ctx, fmt.Sprint("attempt-", i), []store.ThrottleLimit{l}, t0, t0.Add(-time.Hour))
				switch {
				case err != nil:
					errs <- err
				case wait.Refused() && wait.InFlight:
					refused.Add(1)
				case wait.Refused():
					errs <- fmt.Errorf("refused %+v, want for the attempts in flight", wait)
				default:
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if allowed.Load() != 5 || refused.Load() != n-5 {
			t.Fatalf("%s: %d concurrent attempts: %d went ahead, %d refused; want 5 and %d", l.Key, n, allowed.Load(), refused.Load(), n-5)
		}
	}
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	older := store.SealedKey{ID: "kid-a", Created: t0.Add(123456789), Public: []byte{1, 2, 3}, Sealed: []byte{0, 255, 4}}
	newer := store.SealedKey{ID: "kid-b", Created: t0.Add(time.Hour), Activates: t0.Add(2*time.Hour + 987654321), Public: []byte{4}, Sealed: []byte{5}}
	for _, k := range []store.SealedKey{older, newer} {
		if err := s.AddSigningKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddSigningKey(ctx, store.SealedKey{ID: "kid-a", Created: t0, Public: []byte{9}, Sealed: []byte{9}}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate kid: %v, want ErrExists", err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	if got := keys[1]; got.ID != older.ID || !got.Created.Equal(older.Created) || string(got.Public) != string(older.Public) || string(got.Sealed) != string(older.Sealed) {
		t.Fatalf("round trip: %+v, want %+v (newest first, nanoseconds kept)", got, older)
	}
	if !keys[1].Activates.IsZero() || !keys[0].Activates.Equal(newer.Activates) {
		t.Fatalf("activation times: %v and %v, want zero (from creation) and %v", keys[1].Activates, keys[0].Activates, newer.Activates)
	}
	if err := s.DeleteSigningKey(ctx, "kid-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSigningKey(ctx, "kid-a"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if keys, _ := s.SigningKeys(ctx); len(keys) != 1 || keys[0].ID != "kid-b" {
		t.Fatalf("after delete: %v", keys)
	}
}
