package service

import (
	"context"
	"errors"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// Refresh implements authv1.AuthServiceServer: the Guard has checked that
// the caller holds a valid refresh token of a live session; the engine
// rotates it (session.Engine.Refresh).
func (s *Service) Refresh(ctx context.Context, _ *authv1.RefreshRequest) (*authv1.RefreshResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	tokens, err := s.sessions.Refresh(ctx, c)
	if errors.Is(err, session.ErrReused) {
		s.cfg.Metrics.reused()
		s.cfg.Metrics.revoked("reuse", 1)
		s.cfg.Logger.WarnContext(ctx, "refresh token reuse: session revoked", "user", c.Subject, "sid", c.SessionID)
	}
	if errors.Is(err, session.ErrSuperseded) {
		s.cfg.Logger.InfoContext(ctx, "refresh superseded: the token was already rotated past; nothing issued", "user", c.Subject, "sid", c.SessionID)
	}
	if err != nil {
		s.cfg.Metrics.refresh("refused")
		return nil, s.statusError(ctx, "refresh", err)
	}
	s.cfg.Metrics.refresh("ok")
	if guard.FromCookie(ctx) {
		if err := s.setSessionCookies(ctx, tokens, s.sessionCSRF(ctx)); err != nil {
			return nil, wire.StatusError(err)
		}
		tokens.Access, tokens.Refresh = "", ""
	}
	typ := "Bearer"
	if c.Confirmation.GetJWKThumbprint() != "" {
		typ = wire.DPoPScheme // the session is bound: so is what it issues
	}
	return &authv1.RefreshResponse{
		AccessToken:      tokens.Access,
		RefreshToken:     tokens.Refresh,
		ExpiresIn:        seconds(tokens.AccessExpiresIn),
		RefreshExpiresIn: seconds(tokens.RefreshExpiresIn),
		TokenType:        typ,
	}, nil
}

// Logout implements authv1.AuthServiceServer: it ends the session of the
// caller's access or refresh token. The method is PUBLIC to the Guard's
// interceptor, which takes one token type per method; the token is
// checked here, by the same Guard (guard.Guard.Authenticate).
//
// A browser session's Logout also expires its cookies, even when its
// tokens no longer verify, but not when its CSRF header is wrong: a page
// of another origin cannot log the user out.
func (s *Service) Logout(ctx context.Context, _ *authv1.LogoutRequest) (*authv1.LogoutResponse, error) {
	c, err := s.guard.Authenticate(ctx, interceptors.Call(ctx, authv1.AuthService_Logout_FullMethodName))
	if !errors.Is(err, guard.ErrCSRF) {
		s.clearCookies(ctx)
	}
	if err != nil {
		return nil, s.statusError(ctx, "logout", err)
	}
	if c.SessionID == "" {
		// A token minted elsewhere has no session to end; it simply expires.
		return &authv1.LogoutResponse{}, nil
	}
	if err := s.sessions.Revoke(ctx, c.SessionID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.statusError(ctx, "logout", err)
	}
	s.cfg.Metrics.revoked("logout", 1)
	s.cfg.Logger.InfoContext(ctx, "logout", "user", c.Subject, "sid", c.SessionID)
	return &authv1.LogoutResponse{}, nil
}

// Renew implements authv1.AuthServiceServer: a new non-fresh access token
// for the caller's live session, never past the session cap.
func (s *Service) Renew(ctx context.Context, _ *authv1.RenewRequest) (*authv1.RenewResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	access, life, err := s.sessions.Renew(ctx, c)
	if err != nil {
		return nil, s.statusError(ctx, "renew", err)
	}
	if guard.FromCookie(ctx) {
		s.setAccessCookie(ctx, access, life)
		access = ""
	}
	return &authv1.RenewResponse{AccessToken: access, ExpiresIn: seconds(life)}, nil
}
