package service

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authd-dev/authd/clock"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Revocations is an uncached interceptors.Revocations reading sessions: a
// token is revoked when its session is revoked or gone. Tokens minted
// elsewhere (no sid) have no session to check.
func Revocations(sessions store.Sessions) interceptors.Revocations {
	return interceptors.RevocationsFunc(func(ctx context.Context, c *token.Claims) (bool, error) {
		if c.SessionID == "" {
			return false, nil
		}
		return sessionRevoked(ctx, sessions, c.SessionID)
	})
}

func sessionRevoked(ctx context.Context, sessions store.Sessions, sid string) (bool, error) {
	sess, err := sessions.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return sess.Revoked(), nil
}

// DefaultRevocationCacheTTL bounds how stale authd's view of a session may
// be: a session revoked by another authd, or by `authd user disable`, is
// refused by this one within it.
const DefaultRevocationCacheTTL = time.Second

// RevocationCache is authd's own interceptors.Revocations: it reads the
// store and remembers each session's state for a short TTL, so a hot
// session costs one store read per TTL rather than one per call. A revoked
// session is remembered as such until evicted; revocations made by this
// process are forgotten at once (the Service calls Forget), so they take
// effect on the next call. Store errors are returned: the call fails closed.
type RevocationCache struct {
	sessions store.Sessions
	clock    clock.Clock
	ttl      time.Duration
	size     int

	mu      sync.Mutex
	entries map[string]revocationEntry
}

type revocationEntry struct {
	revoked bool
	checked time.Time
}

// NewRevocationCache returns a cache over sessions keeping at most 100000
// sessions for ttl (0 means DefaultRevocationCacheTTL).
func NewRevocationCache(sessions store.Sessions, clk clock.Clock, ttl time.Duration) *RevocationCache {
	if ttl <= 0 {
		ttl = DefaultRevocationCacheTTL
	}
	return &RevocationCache{sessions: sessions, clock: clk, ttl: ttl, size: 100000, entries: map[string]revocationEntry{}}
}

// Revoked implements interceptors.Revocations.
func (r *RevocationCache) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
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
	revoked, err := sessionRevoked(ctx, r.sessions, c.SessionID)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= r.size {
		clear(r.entries) // rare; costs one store read per live session
	}
	r.entries[c.SessionID] = revocationEntry{revoked: revoked, checked: now}
	return revoked, nil
}

// Forget drops what the cache knows of sids; no sids drops everything.
func (r *RevocationCache) Forget(sids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(sids) == 0 {
		clear(r.entries)
	}
	for _, sid := range sids {
		delete(r.entries, sid)
	}
}

// maxRevocationPage is the largest ListRevocations page.
const maxRevocationPage = 1000

// ListRevocations implements authv1.AuthServiceServer.
func (s *Service) ListRevocations(ctx context.Context, req *authv1.ListRevocationsRequest) (*authv1.ListRevocationsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, invalidArgument("page_size must not be negative")
	case size == 0 || size > maxRevocationPage:
		size = maxRevocationPage
	}
	if req.GetSince() < 0 {
		return nil, invalidArgument("since must not be negative")
	}
	cursor := store.RevocationCursor{RevokedAt: time.Unix(req.GetSince(), 0).UTC()}
	if req.GetPageToken() != "" {
		var ok bool
		if cursor, ok = parsePageToken(req.GetPageToken()); !ok {
			return nil, invalidArgument("malformed page_token")
		}
	}
	now := s.now()
	page, err := s.store.ListRevocations(ctx, cursor, now, size)
	if err != nil {
		return nil, s.statusError(ctx, "list revocations", err)
	}
	resp := &authv1.ListRevocationsResponse{ServerTime: now.Unix()}
	for _, r := range page {
		resp.Revocations = append(resp.Revocations, &authv1.Revocation{
			Sid: r.SessionID, RevokedAt: r.RevokedAt.Unix(), ExpiresAt: r.ExpiresAt.Unix(),
		})
	}
	if len(page) == size {
		last := page[len(page)-1]
		resp.NextPageToken = pageToken(store.RevocationCursor{RevokedAt: last.RevokedAt, SessionID: last.SessionID})
	}
	return resp, nil
}

// A page token is base64url("<unix seconds>:<sid>"), opaque to callers.
func pageToken(c store.RevocationCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.RevokedAt.Unix(), 10) + ":" + c.SessionID))
}

func parsePageToken(tok string) (store.RevocationCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > 256 {
		return store.RevocationCursor{}, false
	}
	at, sid, ok := strings.Cut(string(b), ":")
	sec, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || sec < 0 || sid == "" {
		return store.RevocationCursor{}, false
	}
	return store.RevocationCursor{RevokedAt: time.Unix(sec, 0).UTC(), SessionID: sid}, true
}
