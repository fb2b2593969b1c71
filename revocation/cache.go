package revocation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Sessions is what a Cache reads: authd's session table.
type Sessions interface {
	Session(ctx context.Context, id string) (store.Session, error)
}

// Cache is authd's own Checker: it reads the session of each token from the
// store and remembers its state for a short TTL, so a hot session costs one
// store read per TTL rather than one per call. A token is revoked when its
// session is revoked or gone; tokens minted elsewhere (no sid) have no
// session to check. A revoked session is remembered as such until evicted;
// revocations made by this process are forgotten at once (Forget), so they
// take effect on the next call. Store errors are returned: the call fails
// closed.
type Cache struct {
	sessions Sessions
	clock    clock.Clock
	ttl      time.Duration
	size     int

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	revoked bool
	checked time.Time
}

var _ Checker = (*Cache)(nil)

// NewCache returns a cache over sessions keeping at most 100000 sessions.
func NewCache(sessions Sessions, opts ...Option) *Cache {
	cfg := newConfig(opts)
	return &Cache{sessions: sessions, clock: cfg.clock, ttl: cfg.ttl, size: cfg.size, entries: map[string]cacheEntry{}}
}

// Revoked implements Checker.
func (r *Cache) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	if c.SessionID == "" {
		return false, nil
	}
	now := r.clock.Now()
	r.mu.Lock()
	e, ok := r.entries[c.SessionID]
	r.mu.Unlock()
	if ok && (e.revoked || now.Sub(e.checked) < r.ttl) {
		return e.revoked, nil
	}
	revoked, err := r.read(ctx, c.SessionID)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.size {
		clear(r.entries) // rare; costs one store read per live session
	}
	r.entries[c.SessionID] = cacheEntry{revoked: revoked, checked: now}
	return revoked, nil
}

func (r *Cache) read(ctx context.Context, sid string) (bool, error) {
	sess, err := r.sessions.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return sess.Revoked(), nil
}

// Forget drops what the cache knows of sids; no sids drops everything.
func (r *Cache) Forget(sids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(sids) == 0 {
		clear(r.entries)
	}
	for _, sid := range sids {
		delete(r.entries, sid)
	}
}
