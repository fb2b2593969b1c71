package keys_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// Rotate stores a next key that signs from a propagation delay on: listed
// as next, never pruned, and current at its activation exactly, when the
// key before it retires.
func TestManager_RotatePublishesTheNextKeyBeforeItSigns(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep, delay = 2 * time.Hour, 3 * time.Minute
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), keys.WithKeep(keep), keys.WithPropagationDelay(delay))
		if _, err := m.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		old := list(t, m)[0].Key
		next := rotate(t, m, clk, time.Hour)
		if at := next.Created.Add(delay); !next.Activates.Equal(at) || !next.SignsFrom().Equal(at) {
			t.Fatalf("Rotate made a key activating %v, want %v (created + delay)", next.Activates, at)
		}
		want := func(when string, current, retired keys.Key, nextKey *keys.Key, until time.Time) {
			t.Helper()
			states := list(t, m)
			byID := map[string]keys.State{}
			for _, s := range states {
				byID[s.Key.ID] = s
			}
			if s := byID[current.ID]; !s.Current || s.Next || !s.Until.IsZero() {
				t.Fatalf("%s: %s is %+v, want current", when, current.ID, s)
			}
			if nextKey != nil {
				s := byID[nextKey.ID]
				if !s.Next || s.Current || !s.Until.IsZero() || s.Expired(clk.Now().Add(1000*time.Hour)) || !s.Key.Activates.Equal(nextKey.Activates) {
					t.Fatalf("%s: %s is %+v, want next (activating %v), never expiring", when, nextKey.ID, s, nextKey.Activates)
				}
			}
			if retired.ID != "" {
				if s := byID[retired.ID]; s.Current || s.Next || !s.Until.Equal(until) {
					t.Fatalf("%s: %s is %+v, want retired until %v", when, retired.ID, s, until)
				}
			}
		}
		want("just rotated", old, keys.Key{}, &next, time.Time{})
		clk.Advance(delay - time.Nanosecond)
		want("a nanosecond before the activation", old, keys.Key{}, &next, time.Time{})
		if pruned, err := m.Prune(t.Context()); err != nil || len(pruned) != 0 {
			t.Fatalf("Prune before the activation = %v, %v; want nothing", keyIDs(pruned), err)
		}
		clk.Advance(time.Nanosecond)
		want("at the activation", next, old, nil, next.Activates.Add(keep))
	})
}

// Every instance publishes a rotated key from its next reload on, and every
// instance switches to it at its activation, without a reload and whatever
// the order in which they loaded it: none signs with a key another has not
// published.
func TestRing_InstancesPublishTheNextKeyAndSwitchTogetherAtItsActivation(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const delay = 20 * time.Minute
		clk := clock.NewFake(t0)
		open := func() *keys.Ring {
			t.Helper()
			ring, err := keys.Open(t.Context(), b, keys.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			return ring
		}
		a := open()
		instances := []*keys.Ring{a, open()}
		old, _ := a.SigningKey()
		clk.Advance(time.Hour)
		// `authd keys rotate`, another process.
		next, err := keys.NewManager(b, keys.WithClock(clk), keys.WithPropagationDelay(delay)).Rotate(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		signers := func(when string, want string) {
			t.Helper()
			for i, r := range instances {
				if kid, _ := r.SigningKey(); kid != want {
					t.Fatalf("%s: instance %d signs with %s, want %s", when, i, kid, want)
				}
			}
		}
		publishes := func(r *keys.Ring, kid string) bool {
			return slices.ContainsFunc(r.JWKS(), func(k token.JWK) bool { return k.Kid == kid })
		}
		signers("before any reload", old)
		// The instances reload a minute apart, each on its own schedule.
		for i, r := range instances {
			clk.Advance(time.Minute)
			if err := r.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !publishes(r, next.ID) {
				t.Fatalf("instance %d does not publish the next key after its reload", i)
			}
			if n, ok := r.Next(); !ok || n.ID != next.ID || !n.Activates.Equal(next.Activates) {
				t.Fatalf("instance %d: Next = %s %v, %v; want %s at %v", i, n.ID, n.Activates, ok, next.ID, next.Activates)
			}
			signers("after instance "+strconv.Itoa(i)+"'s reload", old)
		}
		clk.Advance(next.Activates.Sub(clk.Now()) - time.Nanosecond)
		signers("a nanosecond before the activation", old)
		clk.Advance(time.Nanosecond)
		signers("at the activation, with no reload since", next.ID)
		for i, r := range instances {
			if _, ok := r.Next(); ok {
				t.Errorf("instance %d still has a next key after the activation", i)
			}
			if !publishes(r, old) {
				t.Errorf("instance %d no longer publishes the retired key", i)
			}
			// A token of each key verifies at each instance.
			for _, kid := range []string{old, next.ID} {
				if _, err := r.VerificationKey(t.Context(), kid); err != nil {
					t.Errorf("instance %d: %s: %v", i, kid, err)
				}
			}
		}
	})
}

// `authd keys rotate --now`: the key signs at each instance's next reload.
func TestRing_RotateAtOnceSignsAtTheNextReload(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		ring, err := keys.Open(t.Context(), b, keys.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		key := rotate(t, keys.NewManager(b, keys.WithClock(clk), atOnce), clk, time.Minute)
		if !key.Activates.IsZero() {
			t.Fatalf("a key rotated at once activates at %v, want zero (from its creation)", key.Activates)
		}
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if kid, _ := ring.SigningKey(); kid != key.ID {
			t.Fatalf("after the reload the Ring signs with %s, want %s", kid, key.ID)
		}
	})
}

// Revoking the current key while a next key waits for its activation
// replaces it at once: revoke never waits for a propagation delay.
func TestManager_RevokeCurrentKeyWithANextKeyWaiting(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = 2 * time.Hour
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), keys.WithKeep(keep))
		ring, err := keys.Open(t.Context(), b, keys.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		compromised, _ := ring.SigningKey()
		waiting := rotate(t, m, clk, time.Minute)
		clk.Advance(time.Minute)
		replacement, err := m.Revoke(t.Context(), compromised)
		if err != nil || replacement == nil {
			t.Fatalf("Revoke of the current key = %v, %v; want a replacement", replacement, err)
		}
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if kid, _ := ring.SigningKey(); kid != replacement.ID {
			t.Fatalf("after the revocation the Ring signs with %s, want the replacement %s at once", kid, replacement.ID)
		}
		states := list(t, m)
		if got := kids(states); !slices.Equal(got, []string{replacement.ID, waiting.ID}) || !states[0].Current {
			t.Fatalf("after Revoke: %v, want %s current, then %s", got, replacement.ID, waiting.ID)
		}
		// The waiting key is older than the replacement: it never signs,
		// and goes once the keep after the replacement's start is over.
		if s := states[1]; s.Next || s.Current || !s.Until.Equal(replacement.Created.Add(keep)) {
			t.Fatalf("the superseded next key is %+v, want retired until %v", s, replacement.Created.Add(keep))
		}
		clk.Advance(time.Hour)
		if kid, _ := ring.SigningKey(); kid != replacement.ID {
			t.Fatalf("past the superseded key's activation the Ring signs with %s, want %s", kid, replacement.ID)
		}
	})
}

// A key file written before activation times existed has no Activates
// header: it signs from its creation, as it did. One with the header keeps
// it.
func TestDir_ActivatesHeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	clk := clock.NewFake(t0)
	legacy, err := keys.NewKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Dir(dir).Add(t.Context(), legacy); err != nil {
		t.Fatal(err)
	}
	readFile := func(kid string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, kid+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if data := readFile(legacy.ID); strings.Contains(data, "Activates") {
		t.Fatalf("a key with no activation time was written with an Activates header:\n%s", data)
	}
	clk.Advance(time.Hour)
	next, err := keys.NewManager(keys.Dir(dir), keys.WithClock(clk)).Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if data := readFile(next.ID); !strings.Contains(data, "Activates: "+next.Activates.Format(time.RFC3339Nano)) {
		t.Fatalf("the next key's file has no Activates header:\n%s", data)
	}
	stored, err := keys.Dir(dir).Keys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		want := map[string]time.Time{legacy.ID: {}, next.ID: next.Activates}[k.ID]
		if !k.Activates.Equal(want) {
			t.Errorf("%s read back activating %v, want %v", k.ID, k.Activates, want)
		}
	}
	ring, err := keys.Open(t.Context(), keys.Dir(dir), keys.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := ring.SigningKey(); kid != legacy.ID {
		t.Fatalf("the Ring signs with %s, want the legacy key %s until the next one activates", kid, legacy.ID)
	}
}

// The migration that adds activation times to a shared database keeps the
// keys stored before it signing as they did: a database written by the
// previous schema, with its key, is opened by this one.
func TestDatabase_MigrationKeepsExistingKeysSigning(t *testing.T) {
	type opener func(t *testing.T) (store.SigningKeys, *sql.DB)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) opener // the opener of one database
		arg  func(n int) string
	}{
		{"SQLite", func(t *testing.T) opener {
			path := filepath.Join(t.TempDir(), "authd.db")
			return func(t *testing.T) (store.SigningKeys, *sql.DB) {
				db, err := sqlite.Open(t.Context(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db, db.DB.DB
			}
		}, func(int) string { return "?" }},
		{"PostgreSQL", func(t *testing.T) opener {
			openPostgres(t) // skips without AUTHD_TEST_POSTGRES
			dsn := pgschema.ForTest(t, "authd_keys")
			return func(t *testing.T) (store.SigningKeys, *sql.DB) {
				db, err := postgres.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db, db.DB.DB
			}
		}, func(n int) string { return "$" + strconv.Itoa(n) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := tc.open(t)
			_, raw := open(t)
			ctx := t.Context()
			// Back to the schema before the migration, with a key
			// stored as the previous authd stored it.
			for _, q := range []string{
				`DELETE FROM schema_migrations WHERE version = 8`,
				`ALTER TABLE signing_keys DROP COLUMN activates_at_ns`,
			} {
				if _, err := raw.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			kek := newKEK(t, "k")
			legacy, err := keys.NewKey(t0)
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := kek.Seal(legacy)
			if err != nil {
				t.Fatal(err)
			}
			insert := `INSERT INTO signing_keys (id, created_at_ns, public_key, sealed_private) VALUES (` +
				tc.arg(1) + `, ` + tc.arg(2) + `, ` + tc.arg(3) + `, ` + tc.arg(4) + `)`
			if _, err := raw.ExecContext(ctx, insert, legacy.ID, legacy.Created.UnixNano(), []byte(legacy.Public), sealed); err != nil {
				t.Fatal(err)
			}
			db, _ := open(t) // migrates
			stored, err := keys.Database(db, kek).Keys(ctx)
			if err != nil || len(stored) != 1 {
				t.Fatalf("keys after the migration = %v, %v; want the legacy key", keyIDs(stored), err)
			}
			if k := stored[0]; k.ID != legacy.ID || !k.Activates.IsZero() || !k.SignsFrom().Equal(legacy.Created) {
				t.Fatalf("the legacy key after the migration: %s activating %v, want %s signing from its creation", k.ID, k.Activates, legacy.ID)
			}
			clk := clock.NewFake(t0.Add(time.Hour))
			ring, err := keys.Open(ctx, keys.Database(db, kek), keys.WithClock(clk))
			if err != nil {
				t.Fatal(err)
			}
			if kid, _ := ring.SigningKey(); kid != legacy.ID {
				t.Fatalf("a Ring over the migrated database signs with %s, want the legacy key %s", kid, legacy.ID)
			}
		})
	}
}

// Callers signing while the activation comes all get one of the two keys,
// and every one after it the new key (run with -race).
func TestRing_SigningAcrossTheActivationIsSafeForConcurrentUse(t *testing.T) {
	clk := clock.NewFake(t0)
	dir := filepath.Join(t.TempDir(), "keys")
	ring, err := keys.Open(t.Context(), keys.Dir(dir), keys.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := ring.SigningKey()
	next := rotate(t, keys.NewManager(keys.Dir(dir), keys.WithClock(clk)), clk, time.Second)
	if err := ring.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(next.Activates.Sub(clk.Now()) - time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if kid, key := ring.SigningKey(); (kid != old && kid != next.ID) || key == nil {
					t.Errorf("SigningKey = %s, want %s or %s with its private half", kid, old, next.ID)
					return
				}
			}
		})
	}
	clk.Advance(time.Millisecond)
	wg.Wait()
	if kid, _ := ring.SigningKey(); kid != next.ID {
		t.Fatalf("after the activation: %s, want %s", kid, next.ID)
	}
}
