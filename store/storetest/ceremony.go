package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/authd-dev/authd/store"
)

// The WebAuthn ceremony cases, run by Run.
var ceremonyTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Ceremonies/ConsumedOnceUntilItsExpiry", testCeremonyConsumedOnce},
	{"Ceremonies/ConcurrentConsumersHaveOneWinner", testConcurrentCeremonyConsume},
	{"Ceremonies/UnknownUserRefused", testCeremonyUnknownUser},
	{"Ceremonies/PruneExpired", testPruneCeremonies},
	{"Users/ByID", testUserByID},
}

func newCeremony(userID int64, token string) store.Ceremony {
	return store.Ceremony{IDHash: digest(token), Kind: "login", UserID: userID, Binding: digest("binding-" + token),
		Data: []byte(`{"challenge":"` + token + `"}`), CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
}

// testCeremonyConsumedOnce: a ceremony round-trips whole, with a user or
// without (a passwordless login), is consumed until its expiry and not at
// it, and once.
func testCeremonyConsumedOnce(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	withUser, anyone := newCeremony(u.ID, "c-1"), newCeremony(0, "c-2")
	anyone.Kind, anyone.Binding = "register", nil
	expired := newCeremony(u.ID, "c-3")
	for _, c := range []store.Ceremony{withUser, anyone, expired} {
		if err := s.CreateCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCeremony(ctx, withUser); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken hash: %v, want ErrExists", err)
	}
	if _, err := s.ConsumeCeremony(ctx, expired.IDHash, expired.ExpiresAt); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsumeCeremony at its expiry: %v, want ErrNotFound", err)
	}
	for _, c := range []store.Ceremony{withUser, anyone} {
		before := c.ExpiresAt.Add(-time.Second)
		got, err := s.ConsumeCeremony(ctx, c.IDHash, before)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("ConsumeCeremony = %+v, %v; want %+v", got, err, c)
		}
		if _, err := s.ConsumeCeremony(ctx, c.IDHash, before); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("consumed twice: %v, want ErrNotFound", err)
		}
	}
}

func testConcurrentCeremonyConsume(t *testing.T, s store.Store) {
	c := newCeremony(mustUser(t, s, "alice").ID, "once")
	if err := s.CreateCeremony(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	oneWinner(t, 20, store.ErrNotFound, func(int) error {
		_, err := s.ConsumeCeremony(context.Background(), c.IDHash, t0)
		return err
	})
}

func testCeremonyUnknownUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.CreateCeremony(ctx, newCeremony(987654, "nobody")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a ceremony of an unknown user: %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeCeremony(ctx, digest("nobody"), t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("it was stored: %v", err)
	}
}

func testPruneCeremonies(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	old, live := newCeremony(u.ID, "old"), newCeremony(0, "live")
	live.ExpiresAt = t0.Add(time.Hour)
	for _, c := range []store.Ceremony{old, live} {
		if err := s.CreateCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PruneCeremonies(ctx, t0.Add(10*time.Minute)); err != nil || n != 1 {
		t.Fatalf("PruneCeremonies = %d, %v; want 1", n, err)
	}
	if _, err := s.ConsumeCeremony(ctx, live.IDHash, t0); err != nil {
		t.Fatalf("the live ceremony: %v", err)
	}
}

func testUserByID(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := mustUser(t, s, "alice")
	byName, err := s.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || !reflect.DeepEqual(got, byName) {
		t.Fatalf("UserByID = %+v, %v; want %+v", got, err, byName)
	}
	if _, err := s.UserByID(ctx, u.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown id: %v, want ErrNotFound", err)
	}
}
