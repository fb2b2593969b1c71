package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// tokenPair is what Login and Refresh hand out.
type tokenPair struct {
	sid              string
	access, refresh  string
	accessExpiresIn  int64
	refreshExpiresIn int64
}

// openSession starts a session for user after a password check: a fresh
// access token and a refresh token, both bounded by the session cap.
func (s *Service) openSession(ctx context.Context, user store.User) (tokenPair, error) {
	now := s.now()
	sess := store.Session{
		ID:       token.NewID(),
		UserID:   user.ID,
		Username: user.Name,
		Roles:    user.Roles,
		// The generation the password was checked under: a password,
		// roles or disabled change since refuses the session.
		UserGeneration: user.Generation,
		AuthTime:       now,
		CreatedAt:      now,
		ExpiresAt:      now.Add(s.cfg.sessionMax),
	}
	sess.Current = s.nextRotation(sess, now)
	pair, err := s.mint(ctx, sess, sess.Current, true, now)
	if err != nil {
		return tokenPair{}, err
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return tokenPair{}, wire.ErrInvalidCredentials // as if checked a moment later
		}
		return tokenPair{}, err
	}
	return pair, nil
}

// nextRotation picks the ids and lifetimes of a new token pair: the refresh
// token's idle lifetime restarts, and neither outlives the session cap.
func (s *Service) nextRotation(sess store.Session, now time.Time) store.Rotation {
	return store.Rotation{
		RefreshJTI:       token.NewID(),
		RefreshIssuedAt:  now,
		RefreshExpiresAt: earliest(now.Add(s.cfg.refreshTTL), sess.ExpiresAt),
		AccessJTI:        token.NewID(),
		AccessIssuedAt:   now,
		AccessExpiresAt:  earliest(now.Add(s.cfg.accessTTL), sess.ExpiresAt),
	}
}

// mint signs the pair r describes. Signing is deterministic, so minting the
// same rotation again gives the same tokens: that is how a refresh retried
// within the grace window gets the very same successor pair.
func (s *Service) mint(ctx context.Context, sess store.Session, r store.Rotation, fresh bool, now time.Time) (tokenPair, error) {
	access, err := s.signAccess(ctx, sess, r.AccessJTI, r.AccessIssuedAt, r.AccessExpiresAt, fresh)
	if err != nil {
		return tokenPair{}, err
	}
	refresh, err := s.signer.Sign(s.claims(sess, token.Refresh, r.RefreshJTI, r.RefreshIssuedAt, r.RefreshExpiresAt, false))
	if err != nil {
		return tokenPair{}, err
	}
	return tokenPair{
		sid: sess.ID, access: access, refresh: refresh,
		accessExpiresIn:  secondsUntil(r.AccessExpiresAt, now),
		refreshExpiresIn: secondsUntil(r.RefreshExpiresAt, now),
	}, nil
}

// signAccess signs an access token of sess, with the claims the embedder's
// hook adds (WithAdditionalClaims).
func (s *Service) signAccess(ctx context.Context, sess store.Session, jti string, iat, exp time.Time, fresh bool) (string, error) {
	c := s.claims(sess, token.Access, jti, iat, exp, fresh)
	if s.cfg.extraClaims != nil {
		extra, err := s.cfg.extraClaims(ctx, sess.Username, sess.Roles)
		if err != nil {
			return "", fmt.Errorf("additional claims: %w", err)
		}
		c.Extra = extra
	}
	return s.signer.Sign(c)
}

func (s *Service) claims(sess store.Session, typ token.Type, jti string, iat, exp time.Time, fresh bool) token.Claims {
	var roles []string
	if typ == token.Access {
		roles = sess.Roles // refresh tokens are never checked for roles
	}
	return token.Claims{
		Subject:   sess.Username,
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(iat),
		IssuedAt:  jwt.NewNumericDate(iat),
		ID:        jti,
		Type:      typ,
		Fresh:     token.Fresh{Value: fresh},
		SessionID: sess.ID,
		AuthTime:  jwt.NewNumericDate(sess.AuthTime),
		Roles:     roles,
	}
}

// Refresh implements authv1.AuthServiceServer. The interceptor has already
// checked that the caller holds a valid refresh token. With rotation on:
//
//   - the session's current refresh token is spent in one compare-and-swap
//     and a new pair issued;
//   - the token spent just before it, presented again within the grace
//     window, gets the same pair again (concurrent tabs, a lost response);
//   - any other token of the session is reuse: the session is revoked.
func (s *Service) Refresh(ctx context.Context, _ *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	claims, ok := interceptors.ClaimsFromContext(ctx)
	if !ok {
		return nil, wire.StatusError(wire.ErrMissing)
	}
	if claims.SessionID == "" {
		return nil, s.statusError(ctx, "refresh", ErrNoSession)
	}
	pair, err := s.refresh(ctx, claims)
	if err != nil {
		s.cfg.metrics.refresh("refused")
		return nil, s.statusError(ctx, "refresh", err)
	}
	s.cfg.metrics.refresh("ok")
	return &authv1.RefreshResponse{
		AccessToken:      pair.access,
		RefreshToken:     pair.refresh,
		ExpiresIn:        pair.accessExpiresIn,
		RefreshExpiresIn: pair.refreshExpiresIn,
	}, nil
}

func (s *Service) refresh(ctx context.Context, claims *token.Claims) (tokenPair, error) {
	now := s.now()
	sess, err := s.liveSession(ctx, claims.SessionID)
	if err != nil {
		return tokenPair{}, err
	}
	if !s.cfg.rotation {
		return s.refreshWithoutRotation(ctx, sess, claims, now)
	}
	if sess.Current.RefreshJTI == claims.ID {
		// Sign first: a pair that cannot be minted must not spend the
		// refresh token the client still holds.
		next := s.nextRotation(sess, now)
		pair, err := s.mint(ctx, sess, next, false, now)
		if err != nil {
			return tokenPair{}, err
		}
		err = s.store.Rotate(ctx, sess.ID, claims.ID, next, now)
		if err == nil {
			return pair, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return tokenPair{}, err
		}
		// A concurrent refresh rotated first: answer as it did.
		if sess, err = s.liveSession(ctx, claims.SessionID); err != nil {
			return tokenPair{}, err
		}
	}
	// Grace 0 is strict: even a retry within the same second is reuse.
	if s.cfg.reuseGrace > 0 && sess.PreviousJTI == claims.ID && now.Sub(sess.PreviousSpentAt) <= s.cfg.reuseGrace {
		return s.mint(ctx, sess, sess.Current, false, now)
	}
	if err := s.store.RevokeSession(ctx, sess.ID, now); err != nil {
		return tokenPair{}, err
	}
	s.revoked(ctx, sess.ID)
	s.cfg.metrics.reused()
	s.cfg.metrics.revoked("reuse", 1)
	s.cfg.logger.WarnContext(ctx, "refresh token reuse: session revoked", "user", sess.Username, "sid", sess.ID)
	return tokenPair{}, wire.ErrRevoked
}

// refreshWithoutRotation mints an access token and hands back no refresh
// token: the client keeps the one it has.
func (s *Service) refreshWithoutRotation(ctx context.Context, sess store.Session, claims *token.Claims, now time.Time) (tokenPair, error) {
	if sess.Current.RefreshJTI != claims.ID {
		return tokenPair{}, wire.ErrRevoked
	}
	exp := earliest(now.Add(s.cfg.accessTTL), sess.ExpiresAt)
	access, err := s.signAccess(ctx, sess, token.NewID(), now, exp, false)
	if err != nil {
		return tokenPair{}, err
	}
	return tokenPair{sid: sess.ID, access: access, accessExpiresIn: secondsUntil(exp, now),
		refreshExpiresIn: secondsUntil(claims.Expiry(), now)}, nil
}

// liveSession returns the session, or ErrRevoked when it is revoked, gone or
// past its cap.
func (s *Service) liveSession(ctx context.Context, sid string) (store.Session, error) {
	sess, err := s.store.Session(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, wire.ErrRevoked
	}
	if err != nil {
		return store.Session{}, err
	}
	if sess.Revoked() || !s.now().Before(sess.ExpiresAt) {
		return store.Session{}, wire.ErrRevoked
	}
	return sess, nil
}

// Logout implements authv1.AuthServiceServer: it revokes the session of the
// caller's access or refresh token. The method is PUBLIC to the interceptor,
// which accepts one token type per method; the token is checked here.
func (s *Service) Logout(ctx context.Context, _ *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	raw, err := interceptors.BearerFromContext(ctx)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	claims, err := s.authn.Authorize(ctx, raw, interceptors.Public)
	if err != nil {
		return nil, wire.StatusError(err)
	}
	if claims.SessionID == "" {
		// A token minted elsewhere has no session to end; it simply expires.
		return &authv1.LogoutResponse{}, nil
	}
	err = s.store.RevokeSession(ctx, claims.SessionID, s.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.statusError(ctx, "logout", err)
	}
	s.revoked(ctx, claims.SessionID)
	s.cfg.metrics.revoked("logout", 1)
	s.cfg.logger.InfoContext(ctx, "logout", "user", claims.Subject, "sid", claims.SessionID)
	return &authv1.LogoutResponse{}, nil
}

// Renew implements authv1.AuthServiceServer: a new non-fresh access token
// for the caller's live session, never past the session cap.
func (s *Service) Renew(ctx context.Context, _ *authv1.RenewRequest) (*authv1.RenewResponse, error) {
	claims, ok := interceptors.ClaimsFromContext(ctx)
	if !ok {
		return nil, wire.StatusError(wire.ErrMissing)
	}
	access, exp, err := s.renew(ctx, claims)
	if err != nil {
		return nil, s.statusError(ctx, "renew", err)
	}
	return &authv1.RenewResponse{AccessToken: access, ExpiresIn: secondsUntil(exp, s.now())}, nil
}

// ErrNoSession: the token belongs to no authd session (it was minted
// elsewhere), so it cannot be renewed.
var ErrNoSession = fmt.Errorf("%w: token has no session", token.ErrInvalid)

// RenewAccess makes the Service an in-process interceptors.Renewer, for
// servers that embed it (authd itself, or a service holding the keys and
// the store): the same renewal as the Renew RPC.
func (s *Service) RenewAccess(ctx context.Context, _ string, claims *token.Claims) (string, error) {
	access, _, err := s.renew(ctx, claims)
	return access, err
}

func (s *Service) renew(ctx context.Context, claims *token.Claims) (string, time.Time, error) {
	if claims.Type != token.Access {
		return "", time.Time{}, wire.ErrAccessRequired
	}
	if claims.SessionID == "" {
		return "", time.Time{}, ErrNoSession
	}
	sess, err := s.liveSession(ctx, claims.SessionID)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	exp := earliest(now.Add(s.cfg.accessTTL), sess.ExpiresAt)
	// At the cap only when the session ends no later than the token: a
	// renewal in the login's own second has the same exp, and is no cap.
	if !sess.ExpiresAt.After(claims.Expiry()) {
		return "", time.Time{}, wire.ErrSessionCap
	}
	access, err := s.signAccess(ctx, sess, token.NewID(), now, exp, false)
	return access, exp, err
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func secondsUntil(t, now time.Time) int64 {
	return int64(t.Sub(now) / time.Second)
}
