package keys_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/token"
)

// writeCounter counts the writes made to a backend.
type writeCounter struct {
	keys.Backend
	adds, deletes atomic.Int64
}

func (w *writeCounter) Add(ctx context.Context, k keys.Key) error {
	w.adds.Add(1)
	return w.Backend.Add(ctx, k)
}

func (w *writeCounter) Delete(ctx context.Context, kid string) error {
	w.deletes.Add(1)
	return w.Backend.Delete(ctx, kid)
}

// Reads have no write side effects: a storm of tokens naming unknown kids
// (a forger's) makes the Ring re-read the stored keys, at most once per
// cooldown, and never prune or create one, even with a key due for
// pruning. Only Reload, the maintenance path, writes.
func TestRing_UnknownKidsOnlyReadTheBackend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b keys.Backend) {
		const keep = time.Hour
		clk := clock.NewFake(t0)
		w := &writeCounter{Backend: b}
		ring, err := keys.Open(t.Context(), w, keys.WithClock(clk), keys.WithKeep(keep))
		if err != nil {
			t.Fatal(err)
		}
		old, _ := ring.SigningKey()
		rotate(t, keys.NewManager(b, keys.WithClock(clk), atOnce), clk, time.Minute)
		clk.Advance(keep) // the old key is now due for pruning
		w.adds.Store(0)
		w.deletes.Store(0)
		for i := range 50 {
			forged, err := keys.NewKey(clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ring.VerificationKey(t.Context(), forged.ID); !errors.Is(err, token.ErrUnknownKey) {
				t.Fatalf("forged kid %d: %v, want ErrUnknownKey", i, err)
			}
			clk.Advance(keys.DefaultReloadCooldown) // every one may re-read
		}
		if a, d := w.adds.Load(), w.deletes.Load(); a != 0 || d != 0 {
			t.Fatalf("unknown kids wrote to the backend: %d adds, %d deletes; want none", a, d)
		}
		if _, err := ring.VerificationKey(t.Context(), old); err != nil {
			t.Fatalf("the old key after the storm: %v (it is Reload's to prune)", err)
		}
		if err := ring.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if w.deletes.Load() != 1 {
			t.Fatalf("Reload deleted %d keys, want the one past its keep", w.deletes.Load())
		}
	})
}
