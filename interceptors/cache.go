package interceptors

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/authd-dev/authd/token"
)

// verifiedCache remembers tokens that passed verification, so a hot token
// costs a hash and a map lookup instead of a signature check. It is keyed by
// the token's SHA-256 and holds at most size entries. It never serves an
// entry at or past the token's exp, nor one older than maxAge, nor one
// verified with keys that have changed since (a rotation, a revoked key,
// a refetched JWKS): those are verified again.
type verifiedCache struct {
	mu         sync.RWMutex
	size       int
	maxAge     time.Duration
	entries    map[[sha256.Size]byte]cacheEntry
	generation uint64 // of the keys the entries were verified with
}

type cacheEntry struct {
	claims *token.Claims
	until  time.Time // the earlier of exp and verification + maxAge
}

// maxCacheAge bounds how long a verified token is trusted without a new
// signature check, whatever its exp.
const maxCacheAge = time.Minute

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, maxAge: maxCacheAge, entries: make(map[[sha256.Size]byte]cacheEntry, size)}
}

func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time, generation uint64) (*token.Claims, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	stale := c.generation != generation
	c.mu.RUnlock()
	if !ok || stale || !now.Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

// put remembers claims verified with the keys of generation; entries
// verified with other keys are dropped.
func (c *verifiedCache) put(key [sha256.Size]byte, claims *token.Claims, now time.Time, generation uint64) {
	until := claims.Expiry()
	if limit := now.Add(c.maxAge); limit.Before(until) {
		until = limit
	}
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation != generation {
		clear(c.entries)
		c.generation = generation
	}
	if len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{claims: claims, until: until}
}

// evict drops expired entries and, if that frees nothing, about a tenth of
// the rest (Go's map order is randomised, so this is random eviction).
func (c *verifiedCache) evict(now time.Time) {
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
