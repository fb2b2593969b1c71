// Package ttlcache is authd's one cache: a bounded map whose entries
// expire, for verified tokens (guard), renewals (guard) and whether a
// session is revoked (session).
package ttlcache

import (
	"errors"
	"sync"
	"time"
)

// Cache maps keys to values until each entry's time. It holds at most its
// size: a Put into a full cache first drops the expired entries and, if
// that frees too little, about a tenth of the rest (Go's map order is
// randomised, so the eviction is random). It is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu      sync.RWMutex
	size    int
	entries map[K]entry[V]
	// noRoom: Add found the cache full of live entries, the first of
	// which expires then; until that time a full cache is not swept again.
	noRoom time.Time
}

type entry[V any] struct {
	value V
	until time.Time
}

// New returns a cache of at most size entries (at least one).
func New[K comparable, V any](size int) *Cache[K, V] {
	size = max(size, 1)
	return &Cache[K, V]{size: size, entries: make(map[K]entry[V])}
}

// Get returns the value of key while now is before its time.
func (c *Cache[K, V]) Get(key K, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put keeps value under key until until; nothing when until is not after
// now.
func (c *Cache[K, V]) Put(key K, value V, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[key] = entry[V]{value: value, until: until}
}

func (c *Cache[K, V]) evict(now time.Time) {
	c.noRoom = time.Time{}
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.size-c.size/10 {
			break
		}
		delete(c.entries, k)
	}
}

// Errors of Add.
var (
	// ErrPresent: the key already holds a live entry.
	ErrPresent = errors.New("ttlcache: key present")
	// ErrFull: every entry of the cache is live; none is dropped for a new
	// one.
	ErrFull = errors.New("ttlcache: full")
)

// Add keeps value under key until until unless key holds an entry live at
// now (ErrPresent), in one step, so that of two concurrent Adds of a key
// one fails. Unlike Put it never drops a live entry: a full cache drops
// its expired entries, and if none has expired Add fails with ErrFull. It
// is the primitive of a set whose members must not be forgotten early (a
// replay cache). Nothing is kept when until is not after now.
func (c *Cache[K, V]) Add(key K, value V, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && now.Before(e.until) {
		return ErrPresent
	}
	if !now.Before(until) {
		return nil
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		if now.Before(c.noRoom) {
			return ErrFull // swept already: nothing expires before noRoom
		}
		first := time.Time{}
		for k, e := range c.entries {
			switch {
			case !now.Before(e.until):
				delete(c.entries, k)
			case first.IsZero() || e.until.Before(first):
				first = e.until
			}
		}
		if len(c.entries) >= c.size {
			c.noRoom = first
			return ErrFull
		}
	}
	c.entries[key] = entry[V]{value: value, until: until}
	return nil
}

// Delete drops keys.
func (c *Cache[K, V]) Delete(keys ...K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noRoom = time.Time{}
	for _, k := range keys {
		delete(c.entries, k)
	}
}

// Clear drops every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noRoom = time.Time{}
	clear(c.entries)
}

// Len returns the number of entries, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Sweep drops the entries whose time has passed at now.
func (c *Cache[K, V]) Sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noRoom = time.Time{}
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
}
