package keys_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/keysourcetest"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// The Ring is a token.KeySource over each backend: the origin is the
// backend, rotated by another Manager (another instance, or `authd keys
// rotate`).
func TestConformance_Dir(t *testing.T) {
	keysourcetest.Run(t, func(t *testing.T) keysourcetest.Subject { return ringSubject(t, newDir(t)) })
}

func TestConformance_DatabaseSQLite(t *testing.T) {
	keysourcetest.Run(t, func(t *testing.T) keysourcetest.Subject {
		return ringSubject(t, keys.Database(openSQLite(t), newKEK(t, "k")))
	})
}

func TestConformance_DatabasePostgres(t *testing.T) {
	keysourcetest.Run(t, func(t *testing.T) keysourcetest.Subject {
		return ringSubject(t, keys.Database(openPostgres(t), newKEK(t, "k")))
	})
}

// ringCooldown is the Ring's reload cooldown in the suite.
const ringCooldown = 10 * time.Second

func ringSubject(t *testing.T, backend keys.Backend) keysourcetest.Subject {
	t.Helper()
	ctx := t.Context()
	clk := clock.NewFake(t0)
	counted := &countingBackend{Backend: backend}
	ring, err := keys.Open(ctx, counted, keys.WithClock(clk), keys.WithReloadCooldown(ringCooldown))
	if err != nil {
		t.Fatal(err)
	}
	// A load is several reads of the backend (prune, then keys): one
	// forced reload tells how many.
	before := counted.reads.Load()
	if err := ring.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	perLoad := counted.reads.Load() - before
	if perLoad == 0 {
		t.Fatal("Reload did not read the backend")
	}
	origin := keys.NewManager(backend, keys.WithClock(clk), atOnce)
	return keysourcetest.Subject{
		Source:   ring,
		Clock:    clk,
		Cooldown: ringCooldown,
		Rotate: func(t *testing.T) {
			if _, err := origin.Rotate(t.Context()); err != nil {
				t.Fatal(err)
			}
		},
		Mint: func(t *testing.T, c token.Claims) string {
			stored, err := backend.Keys(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return sign(t, stored, c)
		},
		// Part of a load counts as a load.
		Loads: func() int { return int((counted.reads.Load() + perLoad - 1) / perLoad) },
	}
}

// countingBackend counts the reads of a Backend.
type countingBackend struct {
	keys.Backend
	reads atomic.Int64
}

func (b *countingBackend) Keys(ctx context.Context) ([]keys.Key, error) {
	b.reads.Add(1)
	return b.Backend.Keys(ctx)
}

func (b *countingBackend) PublicKeys(ctx context.Context) ([]keys.Key, error) {
	b.reads.Add(1)
	return b.Backend.PublicKeys(ctx)
}

// sign signs c with the newest of stored, as a Ring holding them would.
func sign(t *testing.T, stored []keys.Key, c token.Claims) string {
	t.Helper()
	ring, err := keys.NewKeyring(stored...)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := keys.NewSigner(ring, token.DefaultIssuer, []string{token.DefaultIssuer})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
