package session

import (
	"context"
	"errors"
	"time"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Revoke ends one session (a logout, an administrator's revocation); an
// unknown session is store.ErrNotFound. Revoking twice is not an error.
func (e *Engine) Revoke(ctx context.Context, sid string) error {
	return e.revoke(ctx, sid, e.now())
}

func (e *Engine) revoke(ctx context.Context, sid string, now time.Time) error {
	if err := e.store.RevokeSession(ctx, sid, now); err != nil {
		return err
	}
	e.revoked(ctx, sid)
	return nil
}

// RevokeUser ends every live session of the account userID but except
// ("" for none), which is brought to the account's current generation, and
// returns how many it ended.
func (e *Engine) RevokeUser(ctx context.Context, userID int64, except string) (int, error) {
	n, err := e.store.RevokeUserSessions(ctx, userID, except, e.now())
	if err != nil {
		return 0, err
	}
	if n > 0 {
		e.revoked(ctx)
	}
	return n, nil
}

// revoked tells the cache and the feed of revoked sessions (none: several
// unnamed ones).
func (e *Engine) revoked(ctx context.Context, sids ...string) {
	e.Forget(sids...)
	if e.cfg.OnRevoke != nil {
		e.cfg.OnRevoke(ctx, sids...)
	}
}

// Forget drops what Revoked remembers of sids (none: of every session), as
// when the revocation feed announces them.
func (e *Engine) Forget(sids ...string) {
	if len(sids) == 0 {
		e.sessions.Clear()
		return
	}
	e.sessions.Delete(sids...)
}

// Revoked reports whether the session of a verified token is revoked,
// stale (its account changed) or gone: the guard.Revocations of authd. It
// remembers each live session for Config.CacheTTL, so a hot session costs
// one store read per TTL, and a revoked one until its token expires.
// Tokens minted elsewhere (no sid) have no session to check. Store errors
// are returned: the call fails closed.
func (e *Engine) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	if c.SessionID == "" {
		return false, nil
	}
	now := e.cfg.Clock.Now()
	if revoked, ok := e.sessions.Get(c.SessionID, now); ok {
		return revoked, nil
	}
	sess, err := e.store.Session(ctx, c.SessionID)
	revoked := errors.Is(err, store.ErrNotFound) || (err == nil && sess.Revoked())
	if err != nil && !revoked {
		return false, err
	}
	until := now.Add(e.cfg.CacheTTL)
	if revoked {
		until = c.Expiry()
	}
	e.sessions.Put(c.SessionID, revoked, until, now)
	return revoked, nil
}

// Live reports whether session sid is live now (known, not revoked, its
// account unchanged, its cap not passed), and its cap when it is: what
// AuthService.CheckSession answers a consumer meeting a session for the
// first time. An unknown session is not live.
func (e *Engine) Live(ctx context.Context, sid string) (bool, time.Time, error) {
	sess, err := e.store.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return false, time.Time{}, nil
	}
	if err != nil {
		return false, time.Time{}, err
	}
	if sess.Revoked() || !e.now().Before(sess.ExpiresAt) {
		return false, time.Time{}, nil
	}
	return true, sess.ExpiresAt, nil
}

// Revocations returns up to limit revoked sessions after the cursor whose
// tokens could still verify, and the time the list was read at: what
// AuthService.ListRevocations pages through.
func (e *Engine) Revocations(ctx context.Context, after store.RevocationCursor, limit int) ([]store.Revocation, time.Time, error) {
	now := e.now()
	list, err := e.store.ListRevocations(ctx, after, now, limit)
	return list, now, err
}

// Prune deletes the sessions whose cap passed more than token.MaxLeeway
// ago (none of their tokens verifies any more) and returns how many.
func (e *Engine) Prune(ctx context.Context) (int, error) {
	return e.store.PruneSessions(ctx, e.cfg.Clock.Now().Add(-token.MaxLeeway))
}
