package ttlcache_test

import (
	"testing"
	"time"

	"github.com/authd-dev/authd/internal/ttlcache"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

func TestCache_EntriesExpireAtTheirTime(t *testing.T) {
	c := ttlcache.New[string, int](8)
	c.Put("a", 1, t0.Add(time.Minute), t0)
	if v, ok := c.Get("a", t0.Add(time.Minute-time.Nanosecond)); !ok || v != 1 {
		t.Fatalf("before its time: %v, %v", v, ok)
	}
	if _, ok := c.Get("a", t0.Add(time.Minute)); ok {
		t.Fatal("at its time the entry still answers")
	}
	c.Put("b", 2, t0, t0)
	if c.Len() != 1 {
		t.Fatalf("an entry already expired was kept: len %d", c.Len())
	}
	c.Sweep(t0.Add(time.Hour))
	if c.Len() != 0 {
		t.Fatalf("Sweep left %d entries", c.Len())
	}
}

// However many keys arrive, the cache holds at most its size, and a full
// cache drops expired entries before live ones.
func TestCache_IsBounded(t *testing.T) {
	const size = 100
	c := ttlcache.New[int, int](size)
	for i := range size {
		c.Put(i, i, t0.Add(time.Second), t0) // expire first
	}
	c.Put(-1, -1, t0.Add(time.Hour), t0.Add(2*time.Second))
	if c.Len() != 1 {
		t.Fatalf("a full cache of expired entries: len %d after a Put, want 1", c.Len())
	}
	for i := range 10 * size {
		c.Put(i, i, t0.Add(time.Hour), t0)
		if c.Len() > size {
			t.Fatalf("len %d over the size %d", c.Len(), size)
		}
	}
}

func TestCache_DeleteAndClear(t *testing.T) {
	c := ttlcache.New[string, int](8)
	for _, k := range []string{"a", "b", "c"} {
		c.Put(k, 1, t0.Add(time.Hour), t0)
	}
	c.Delete("a", "b")
	if _, ok := c.Get("a", t0); ok || c.Len() != 1 {
		t.Fatalf("after Delete: len %d", c.Len())
	}
	c.Clear()
	if c.Len() != 0 {
		t.Fatalf("after Clear: len %d", c.Len())
	}
}

func TestCache_AddKeepsLiveEntriesAndRefusesWhenFull(t *testing.T) {
	c := ttlcache.New[string, struct{}](2)
	if err := c.Add("a", struct{}{}, t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if err := c.Add("a", struct{}{}, t0.Add(time.Hour), t0.Add(time.Second)); err != ttlcache.ErrPresent {
		t.Fatalf("a live key added twice: %v", err)
	}
	if err := c.Add("b", struct{}{}, t0.Add(2*time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	// Full of live entries: nothing is dropped for a newcomer.
	if err := c.Add("c", struct{}{}, t0.Add(time.Minute), t0.Add(30*time.Second)); err != ttlcache.ErrFull {
		t.Fatalf("full cache: %v", err)
	}
	if err := c.Add("c", struct{}{}, t0.Add(time.Minute), t0.Add(59*time.Second)); err != ttlcache.ErrFull {
		t.Fatalf("full cache, before the first entry expires: %v", err)
	}
	if _, ok := c.Get("a", t0.Add(59*time.Second)); !ok {
		t.Fatal("a live entry was dropped")
	}
	// Once "a" has expired, it makes room; an expired key may be added again.
	if err := c.Add("a", struct{}{}, t0.Add(3*time.Minute), t0.Add(time.Minute)); err != nil {
		t.Fatalf("after a's time: %v", err)
	}
	if err := c.Add("c", struct{}{}, t0.Add(3*time.Minute), t0.Add(time.Minute)); err != ttlcache.ErrFull {
		t.Fatalf("full again: %v", err)
	}
	if err := c.Add("c", struct{}{}, t0.Add(3*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("after b's time: %v", err)
	}
}
