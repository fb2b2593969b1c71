package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/pgschema"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/postgres"
	"github.com/authd-dev/authd/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// eachBackend runs test on every Backend: a key directory, and the
// database on SQLite and (when AUTHD_TEST_POSTGRES is set) PostgreSQL.
func eachBackend(t *testing.T, test func(t *testing.T, b keys.Backend)) {
	t.Run("Dir", func(t *testing.T) { test(t, newDir(t)) })
	eachDatabase(t, func(t *testing.T, db store.SigningKeys) { test(t, keys.Database(db, newKEK(t, "k"))) })
}

// eachDatabase runs test on the databases that keep signing keys.
func eachDatabase(t *testing.T, test func(t *testing.T, db store.SigningKeys)) {
	t.Run("Database/SQLite", func(t *testing.T) { test(t, openSQLite(t)) })
	t.Run("Database/PostgreSQL", func(t *testing.T) { test(t, openPostgres(t)) })
}

func newDir(t *testing.T) keys.Backend {
	return keys.Dir(filepath.Join(t.TempDir(), "keys"))
}

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "authd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) *postgres.DB {
	t.Helper()
	if os.Getenv("AUTHD_TEST_POSTGRES") == "" {
		t.Skip("AUTHD_TEST_POSTGRES is not set: signing keys in PostgreSQL are not tested (set it to a postgres:// DSN)")
	}
	db, err := postgres.Open(t.Context(), pgschema.ForTest(t, "authd_keys"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newKEK derives a key-encryption key from a secret of c repeated.
func newKEK(t *testing.T, c string) *keys.KeyEncryptionKey {
	t.Helper()
	kek, err := keys.NewKeyEncryptionKey([]byte(strings.Repeat(c, keys.MinKeyEncryptionSecret)))
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func list(t *testing.T, m *keys.Manager) []keys.State {
	t.Helper()
	states, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return states
}

func kids(states []keys.State) []string {
	ids := make([]string, len(states))
	for i, s := range states {
		ids[i] = s.Key.ID
	}
	return ids
}

func keyIDs(ks []keys.Key) []string {
	ids := make([]string, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

// atOnce makes a Manager's rotated keys sign at once, as before activation
// times existed (`authd keys rotate --now`).
var atOnce = keys.WithPropagationDelay(0)

// rotate moves the clock on by d and rotates.
func rotate(t *testing.T, m *keys.Manager, clk *clock.Fake, d time.Duration) keys.Key {
	t.Helper()
	clk.Advance(d)
	key, err := m.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestManager_ListStatesNewestFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = 2 * time.Hour
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), keys.WithKeep(keep), atOnce)
		if states := list(t, m); len(states) != 0 {
			t.Fatalf("List of an empty backend = %v", kids(states))
		}
		k1 := rotate(t, m, clk, 0)
		k2 := rotate(t, m, clk, time.Hour)
		k3 := rotate(t, m, clk, time.Hour)
		want := []struct {
			key     keys.Key
			current bool
			until   time.Time // a retired key verifies until its successor's creation + keep
		}{
			{k3, true, time.Time{}},
			{k2, false, k3.Created.Add(keep)},
			{k1, false, k2.Created.Add(keep)},
		}
		states := list(t, m)
		if len(states) != len(want) {
			t.Fatalf("List = %v, want %d keys", kids(states), len(want))
		}
		for i, w := range want {
			s := states[i]
			if s.Key.ID != w.key.ID || s.Current != w.current || !s.Until.Equal(w.until) || !s.Key.Created.Equal(w.key.Created) {
				t.Errorf("state %d = {%s current=%v until=%v created=%v}, want {%s current=%v until=%v created=%v}",
					i, s.Key.ID, s.Current, s.Until, s.Key.Created, w.key.ID, w.current, w.until, w.key.Created)
			}
			if !bytes.Equal(s.Key.Public, w.key.Public) {
				t.Errorf("state %d: public key differs from the one stored", i)
			}
		}
		if states[0].Expired(t0.Add(1000 * time.Hour)) {
			t.Error("the current key reported expired")
		}
		oldest := states[2]
		if oldest.Expired(oldest.Until.Add(-time.Nanosecond)) || !oldest.Expired(oldest.Until) {
			t.Errorf("a retired key must expire exactly at %v", oldest.Until)
		}
	})
}

func TestManager_InitCreatesOneKeyOnlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk))
		created, err := m.Init(t.Context())
		if err != nil || !created {
			t.Fatalf("Init of an empty backend = %v, %v; want a key created", created, err)
		}
		first := kids(list(t, m))
		clk.Advance(time.Hour)
		for range 2 {
			created, err := keys.NewManager(b, keys.WithClock(clk)).Init(t.Context())
			if err != nil || created {
				t.Fatalf("Init with a key stored = %v, %v; want nothing created", created, err)
			}
		}
		if got := kids(list(t, m)); len(first) != 1 || !slices.Equal(got, first) {
			t.Fatalf("keys after three Inits = %v, want the first one only (%v)", got, first)
		}
	})
}

func TestManager_RotateAtOnceMakesTheNewKeyCurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), atOnce)
		old := rotate(t, m, clk, 0)
		key := rotate(t, m, clk, time.Minute)
		if key.ID == old.ID || key.Private == nil || !key.Created.Equal(clk.Now()) {
			t.Fatalf("Rotate returned %s created %v, want a new key with its private half created now", key.ID, key.Created)
		}
		states := list(t, m)
		if got := kids(states); !slices.Equal(got, []string{key.ID, old.ID}) || !states[0].Current || states[1].Current {
			t.Fatalf("after Rotate: %v, want %s current then %s retired", got, key.ID, old.ID)
		}
		ring, err := keys.Open(t.Context(), b, keys.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		if kid, _ := ring.SigningKey(); kid != key.ID {
			t.Fatalf("a Ring opened after Rotate signs with %s, want %s", kid, key.ID)
		}
	})
}

// A key added under another secret would leave the instances holding the
// first unable to read it: Rotate and Init check the secret first.
func TestManager_RotateRefusesWhenTheSecretDoesNotOpenTheKeys(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db store.SigningKeys) {
		clk := clock.NewFake(t0)
		if _, err := keys.NewManager(keys.Database(db, newKEK(t, "a")), keys.WithClock(clk)).Init(t.Context()); err != nil {
			t.Fatal(err)
		}
		wrong := keys.NewManager(keys.Database(db, newKEK(t, "b")), keys.WithClock(clk))
		clk.Advance(time.Minute)
		if _, err := wrong.Rotate(t.Context()); !errors.Is(err, keys.ErrSealedKey) {
			t.Fatalf("Rotate with another secret: %v, want ErrSealedKey", err)
		}
		if _, err := wrong.Init(t.Context()); !errors.Is(err, keys.ErrSealedKey) {
			t.Fatalf("Init with another secret: %v, want ErrSealedKey", err)
		}
		if _, err := keys.Open(t.Context(), keys.Database(db, newKEK(t, "b")), keys.WithClock(clk)); !errors.Is(err, keys.ErrSealedKey) {
			t.Fatalf("Open with another secret: %v, want ErrSealedKey", err)
		}
		if states := list(t, wrong); len(states) != 1 {
			t.Fatalf("keys after the refused Rotate: %v, want the first one only", kids(states))
		}
	})
}

func TestManager_PruneDeletesOnlyKeysPastRetirementPlusKeep(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = 2 * time.Hour
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), keys.WithKeep(keep), atOnce)
		k1 := rotate(t, m, clk, 0)
		k2 := rotate(t, m, clk, time.Hour) // k1 retired at t0+1h
		k3 := rotate(t, m, clk, time.Hour) // k2 retired at t0+2h
		prune := func(want ...keys.Key) {
			t.Helper()
			pruned, err := m.Prune(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := keyIDs(pruned); !slices.Equal(got, keyIDs(want)) {
				t.Fatalf("Prune at %v deleted %v, want %v", clk.Now(), got, keyIDs(want))
			}
		}
		prune()
		clk.Advance(k2.Created.Add(keep).Sub(clk.Now()) - time.Nanosecond)
		prune()
		clk.Advance(time.Nanosecond)
		prune(k1)
		if got := kids(list(t, m)); !slices.Equal(got, []string{k3.ID, k2.ID}) {
			t.Fatalf("after pruning %s: %v", k1.ID, got)
		}
		// Long past every key's keep, the current key stays.
		clk.Advance(1000 * time.Hour)
		prune(k2)
		prune()
		if got := kids(list(t, m)); !slices.Equal(got, []string{k3.ID}) {
			t.Fatalf("after pruning everything prunable: %v, want the current key %s", got, k3.ID)
		}
	})
}

func TestManager_RevokeRetiredKeyRemovesIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk), atOnce)
		retired := rotate(t, m, clk, 0)
		current := rotate(t, m, clk, time.Minute)
		replacement, err := m.Revoke(t.Context(), retired.ID)
		if err != nil || replacement != nil {
			t.Fatalf("Revoke of a retired key = %v, %v; want no replacement", replacement, err)
		}
		if got := kids(list(t, m)); !slices.Equal(got, []string{current.ID}) {
			t.Fatalf("after Revoke: %v, want %s only", got, current.ID)
		}
	})
}

func TestManager_RevokeCurrentKeyMakesANewCurrentKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk))
		compromised := rotate(t, m, clk, 0)
		clk.Advance(time.Minute)
		replacement, err := m.Revoke(t.Context(), compromised.ID)
		if err != nil || replacement == nil || replacement.ID == compromised.ID {
			t.Fatalf("Revoke of the current key = %v, %v; want a new key", replacement, err)
		}
		states := list(t, m)
		if got := kids(states); !slices.Equal(got, []string{replacement.ID}) || !states[0].Current {
			t.Fatalf("after Revoke: %v, want the replacement %s, current", got, replacement.ID)
		}
	})
}

// The replacement is stored before the revoked key is deleted: were the
// delete to fail, the backend would never be left without a key.
func TestManager_RevokeCurrentKeyAddsTheReplacementFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		compromised := rotate(t, keys.NewManager(b, keys.WithClock(clk)), clk, 0)
		clk.Advance(time.Minute)
		m := keys.NewManager(undeletable{b}, keys.WithClock(clk))
		replacement, err := m.Revoke(t.Context(), compromised.ID)
		if !errors.Is(err, errDeleteFails) || replacement == nil {
			t.Fatalf("Revoke with a failing delete = %v, %v; want the replacement and the delete's error", replacement, err)
		}
		states := list(t, m)
		if got := kids(states); !slices.Equal(got, []string{replacement.ID, compromised.ID}) || !states[0].Current {
			t.Fatalf("after the failed delete: %v, want the replacement current, then %s", got, compromised.ID)
		}
	})
}

var errDeleteFails = errors.New("delete fails")

// undeletable is a Backend whose Delete fails.
type undeletable struct{ keys.Backend }

func (undeletable) Delete(context.Context, string) error { return errDeleteFails }

func TestManager_RevokeUnknownKidIsErrUnknownKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		clk := clock.NewFake(t0)
		m := keys.NewManager(b, keys.WithClock(clk))
		key := rotate(t, m, clk, 0)
		other, err := keys.NewKey(t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, kid := range []string{other.ID, "", "../" + key.ID} {
			replacement, err := m.Revoke(t.Context(), kid)
			if !errors.Is(err, keys.ErrUnknownKey) || replacement != nil {
				t.Fatalf("Revoke(%q) = %v, %v; want ErrUnknownKey", kid, replacement, err)
			}
		}
		if got := kids(list(t, m)); !slices.Equal(got, []string{key.ID}) {
			t.Fatalf("after refused Revokes: %v, want %s untouched", got, key.ID)
		}
	})
}

func TestDir_CreatesOnceAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	clk := clock.NewFake(t0)
	open := func() *keys.Ring {
		t.Helper()
		ring, err := keys.Open(t.Context(), keys.Dir(dir), keys.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		return ring
	}
	first, _ := open().SigningKey()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	again := open()
	if kid, _ := again.SigningKey(); kid != first || len(again.Keys()) != 1 {
		t.Fatalf("opening the key dir again: current %s, %d keys; want %s alone", kid, len(again.Keys()), first)
	}
	clk.Advance(time.Hour)
	rotated, err := keys.NewManager(keys.Dir(dir), keys.WithClock(clk), atOnce).Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after := open()
	if kid, _ := after.SigningKey(); kid != rotated.ID || len(after.Keys()) != 2 {
		t.Fatalf("after rotation: current %s, %d keys; want %s and 2", kid, len(after.Keys()), rotated.ID)
	}
	for path, want := range map[string]os.FileMode{
		dir:                                   0o700,
		filepath.Join(dir, first+".pem"):      0o600,
		filepath.Join(dir, rotated.ID+".pem"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}

// An unreadable key file is an error: making a new key instead would
// invalidate every token the unreadable one signed.
func TestDir_CorruptFileIsAnError(t *testing.T) {
	valid, err := keys.NewKey(t0)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(valid.Private)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, headers map[string]string, body []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: body})
	}
	created := map[string]string{"Created": t0.Format(time.RFC3339Nano)}
	for _, tc := range []struct {
		name, file string
		data       []byte
	}{
		{"not PEM", "x.pem", []byte("hello")},
		{"corrupt DER", "bogus.pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
		{"another PEM type", valid.ID + ".pem", pemOf("RSA PRIVATE KEY", created, der)},
		{"no Created header", valid.ID + ".pem", pemOf("PRIVATE KEY", nil, der)},
		{"named after another kid", "other.pem", pemOf("PRIVATE KEY", created, der)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			m := keys.NewManager(keys.Dir(dir), keys.WithClock(clock.NewFake(t0)))
			if _, err := keys.Open(t.Context(), keys.Dir(dir)); err == nil {
				t.Error("Open accepted the corrupt key")
			}
			if _, err := m.Init(t.Context()); err == nil {
				t.Error("Init accepted the corrupt key")
			}
			if _, err := m.Rotate(t.Context()); err == nil {
				t.Error("Rotate accepted the corrupt key")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("the key dir holds %d files, want the corrupt one alone: a key was created next to it", len(entries))
			}
		})
	}
}

func TestReadSecretFile_StripsOneNewline(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ data, want string }{
		{"abc\n\n", "abc\n"},
		{"abc\r\n", "abc"},
		{"abc", "abc"},
		{"abc\r", "abc\r"},
		{"\n", ""},
		{"", ""},
	} {
		path := filepath.Join(dir, "secret")
		if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := keys.ReadSecretFile(path)
		if err != nil || string(got) != tc.want {
			t.Errorf("ReadSecretFile(%q) = %q, %v; want %q", tc.data, got, err, tc.want)
		}
	}
	if _, err := keys.ReadSecretFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// Without the key-encryption secret the database's keys can be listed,
// pruned and deleted, but not read or added.
func TestDatabase_WithoutSecret(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db store.SigningKeys) {
		ctx := t.Context()
		key, err := keys.NewKey(t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.Database(db, newKEK(t, "k")).Add(ctx, key); err != nil {
			t.Fatal(err)
		}
		b := keys.Database(db, nil)
		if _, err := b.Keys(ctx); !errors.Is(err, keys.ErrNoSecret) {
			t.Errorf("Keys: %v, want ErrNoSecret", err)
		}
		other, _ := keys.NewKey(t0)
		if err := b.Add(ctx, other); !errors.Is(err, keys.ErrNoSecret) {
			t.Errorf("Add: %v, want ErrNoSecret", err)
		}
		public, err := b.PublicKeys(ctx)
		if err != nil || len(public) != 1 {
			t.Fatalf("PublicKeys = %v, %v; want the stored key", keyIDs(public), err)
		}
		if got := public[0]; got.ID != key.ID || !got.Created.Equal(key.Created) || !bytes.Equal(got.Public, key.Public) || got.Private != nil {
			t.Fatalf("PublicKeys = {%s %v private=%v}, want {%s %v} without its private half", got.ID, got.Created, got.Private != nil, key.ID, key.Created)
		}
		m := keys.NewManager(b, keys.WithClock(clock.NewFake(t0)))
		if got := kids(list(t, m)); !slices.Equal(got, []string{key.ID}) {
			t.Fatalf("List: %v", got)
		}
		if _, err := m.Prune(ctx); err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if _, err := m.Rotate(ctx); !errors.Is(err, keys.ErrNoSecret) {
			t.Errorf("Rotate: %v, want ErrNoSecret", err)
		}
		if err := b.Delete(ctx, key.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := b.Delete(ctx, key.ID); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		if public, err := b.PublicKeys(ctx); err != nil || len(public) != 0 {
			t.Fatalf("PublicKeys after Delete = %v, %v; want none", keyIDs(public), err)
		}
	})
}
