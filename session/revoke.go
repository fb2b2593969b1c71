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
// stale (its account changed) or gone, or is not the token's: a token
// whose subject, or for an access token whose roles, differ from its
// session's, or whose scopes were not granted to its account, is refused
// as revoked (one forged with a stolen key and a sid of the forger's own
// session). It is the guard.Revocations of authd. It remembers each live
// session for Config.CacheTTL, so a hot session costs one store read per
// TTL, and a revoked one until its token expires. Tokens minted elsewhere
// (no sid) have no session to check. Store errors are returned: the call
// fails closed.
func (e *Engine) Revoked(ctx context.Context, c *token.Claims) (bool, error) {
	if c.SessionID == "" {
		return false, nil
	}
	now := e.cfg.Clock.Now()
	if v, ok := e.sessions.Get(c.SessionID, now); ok {
		return !v.admits(c), nil
	}
	sess, err := e.store.Session(ctx, c.SessionID)
	revoked := errors.Is(err, store.ErrNotFound) || (err == nil && sess.Revoked())
	if err != nil && !revoked {
		return false, err
	}
	v := sessionView{revoked: true}
	until := c.Expiry()
	if !revoked {
		v = viewOf(sess)
		until = now.Add(e.cfg.CacheTTL)
	}
	e.sessions.Put(c.SessionID, v, until, now)
	return !v.admits(c), nil
}

// sessionView is what Revoked remembers of a session: whether it is over,
// and whom its tokens must name.
type sessionView struct {
	revoked bool
	Identity
}

func viewOf(s store.Session) sessionView {
	return sessionView{Identity: Identity{Subject: s.Username, Roles: s.Roles, Scopes: s.Scopes}}
}

func (v sessionView) admits(c *token.Claims) bool { return !v.revoked && v.Admits(c) }

// Identity is who a session is for: what every token of it says. A
// consumer gets it from AuthService.CheckSession.
type Identity struct {
	// Subject is the account's name, every token's sub.
	Subject string
	// Roles are the account's roles, every access token's roles claim.
	Roles []string
	// Scopes are the scopes granted to the account (a service account);
	// a token's scope claim holds some of them.
	Scopes []string
}

// Admits reports whether c can be a token of the session: its subject is
// the session's, an access token's roles are the session's (as a set),
// and its scopes were granted.
func (id Identity) Admits(c *token.Claims) bool {
	return c.Names(id.Subject, id.Roles, id.Scopes)
}

// Live reports whether session sid is live now (known, not revoked, its
// account unchanged, its cap not passed), and its cap when it is. An
// unknown session is not live.
func (e *Engine) Live(ctx context.Context, sid string) (bool, time.Time, error) {
	_, capAt, live, err := e.LiveSession(ctx, sid)
	return live, capAt, err
}

// LiveSession is Live with whom the session is for: what
// AuthService.CheckSession answers a consumer meeting a session for the
// first time, so that it can refuse tokens that are not the session's as
// Revoked does.
func (e *Engine) LiveSession(ctx context.Context, sid string) (Identity, time.Time, bool, error) {
	sess, err := e.store.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, time.Time{}, false, nil
	}
	if err != nil {
		return Identity{}, time.Time{}, false, err
	}
	if sess.Revoked() || !e.now().Before(sess.ExpiresAt) {
		return Identity{}, time.Time{}, false, nil
	}
	return viewOf(sess).Identity, sess.ExpiresAt, true, nil
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
