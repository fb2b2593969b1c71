package interceptors

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/authd-dev/authd/token"
)

// verifiedCache remembers tokens that passed verification, so a hot token
// costs a hash and a map lookup instead of a signature check. It is keyed by
// the token's SHA-256, holds at most size entries, and never serves an entry
// at or past the token's exp.
type verifiedCache struct {
	mu      sync.RWMutex
	size    int
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	claims *token.Claims
	exp    time.Time
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, entries: make(map[[sha256.Size]byte]cacheEntry, size)}
}

func (c *verifiedCache) get(key [sha256.Size]byte, now time.Time) (*token.Claims, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || !now.Before(e.exp) {
		return nil, false
	}
	return e.claims, true
}

func (c *verifiedCache) put(key [sha256.Size]byte, claims *token.Claims, now time.Time) {
	exp := claims.Expiry()
	if !now.Before(exp) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{claims: claims, exp: exp}
}

// evict drops expired entries and, if that frees nothing, about a tenth of
// the rest (Go's map order is randomised, so this is random eviction).
func (c *verifiedCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.exp) {
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
