package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Login implements authv1.AuthServiceServer: accounts.Authenticate, then a
// new session. An unknown user, a wrong password and a disabled account
// all cost one argon2id hash and return the same INVALID_CREDENTIALS.
func (s *Service) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	// A proof is checked before the password, so that a bad one costs no
	// hash and counts no attempt.
	bind, err := s.keyBinding(interceptors.Call(ctx, authv1.AuthService_Login_FullMethodName))
	if err != nil {
		return nil, s.statusError(ctx, "login", err)
	}
	user, err := s.accounts.Authenticate(ctx, accounts.Person, req.GetUsername(), req.GetPassword(), s.clientAddress(ctx))
	s.countLogin(ctx, req.GetUsername(), err)
	if err != nil {
		return nil, s.statusError(ctx, "login", err)
	}
	if user.SecondFactor {
		return s.loginChallenge(ctx, user)
	}
	tokens, err := s.open(ctx, "login", user, session.Proof{Bind: bind}, req.GetSetCookies())
	if err != nil {
		return nil, err
	}
	return &authv1.LoginResponse{
		AccessToken:      tokens.Access,
		RefreshToken:     tokens.Refresh,
		TokenType:        tokenType(bind),
		ExpiresIn:        seconds(tokens.AccessExpiresIn),
		RefreshExpiresIn: seconds(tokens.RefreshExpiresIn),
	}, nil
}

// open opens user's session after a login (op) proved as proof says, and
// logs it; with setCookies the tokens go as a browser session's cookies
// and are left out of what it returns, for the response body.
func (s *Service) open(ctx context.Context, op string, user store.User, proof session.Proof, setCookies bool) (session.Tokens, error) {
	tokens, err := s.sessions.Open(ctx, user, proof)
	if err != nil {
		return session.Tokens{}, s.statusError(ctx, op, err)
	}
	s.cfg.Logger.InfoContext(ctx, "login", "user", user.Name, "sid", tokens.SessionID, "amr", proof.AMR,
		"bound", proof.Bind != nil, "cookies", setCookies)
	if setCookies {
		if err := s.setSessionCookies(ctx, tokens, ""); err != nil {
			return session.Tokens{}, wire.StatusError(err)
		}
		tokens.Access, tokens.Refresh = "", ""
	}
	return tokens, nil
}

// countLogin counts and logs how a login attempt ended.
func (s *Service) countLogin(ctx context.Context, name string, err error) {
	switch {
	case err == nil:
		s.cfg.Metrics.login("ok")
	case errors.Is(err, accounts.ErrLoginInFlight):
		s.cfg.Metrics.login("in_flight")
		s.cfg.Logger.InfoContext(ctx, "login refused: too many in flight", "user", name)
	case isThrottled(err):
		s.cfg.Metrics.login("throttled")
		s.cfg.Logger.WarnContext(ctx, "login throttled", "user", name)
	case errors.Is(err, accounts.ErrInvalidCredentials):
		s.cfg.Metrics.login("failed")
		// The name helps spot a guessing run; the password is never logged.
		s.cfg.Logger.InfoContext(ctx, "login failed", "user", name)
	}
}

// ChangePassword implements authv1.AuthServiceServer: it needs a fresh
// access token and the old password, and ends every other session of the
// user (accounts.Manager.ChangePassword).
func (s *Service) ChangePassword(ctx context.Context, req *authv1.ChangePasswordRequest) (*authv1.ChangePasswordResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.accounts.ChangePassword(ctx, c.Subject, req.GetOldPassword(), req.GetNewPassword(), s.clientAddress(ctx), c.SessionID)
	if err != nil {
		return nil, s.statusError(ctx, "change password", err)
	}
	s.cfg.Metrics.revoked("password_change", n)
	s.cfg.Logger.InfoContext(ctx, "password changed", "user", c.Subject, "revoked_sessions", n)
	return &authv1.ChangePasswordResponse{}, nil
}

// IssueClientToken implements authv1.AuthServiceServer: the client
// credentials grant. The secret is checked like a password (argon2id, a
// dummy hash for unknown ids, throttled, one error for every failure);
// scopes are every granted one when none are asked for, and refused when
// any was not granted.
func (s *Service) IssueClientToken(ctx context.Context, req *authv1.IssueClientTokenRequest) (*authv1.IssueClientTokenResponse, error) {
	if err := token.ValidateNames(req.GetScopes()); err != nil {
		return nil, invalidArgument("scopes: %v", err)
	}
	call := interceptors.Call(ctx, authv1.AuthService_IssueClientToken_FullMethodName)
	bind, err := s.keyBinding(call)
	if err != nil {
		return nil, s.statusError(ctx, "client token", err)
	}
	client, err := s.accounts.Authenticate(ctx, accounts.Service, req.GetClientId(), req.GetClientSecret(), s.clientAddress(ctx))
	if err != nil {
		return nil, s.statusError(ctx, "client token", err)
	}
	if bind == nil {
		// Over mutual TLS without a proof: bound to the client
		// certificate (RFC 8705 §3).
		if cert := call.PeerCertificate; cert != nil {
			bind = &token.Confirmation{CertificateThumbprint: token.CertificateThumbprint(cert)}
		}
	}
	if bind == nil && client.RequireBinding {
		return nil, wire.StatusError(errBindingRequired)
	}
	scopes := req.GetScopes()
	if len(scopes) == 0 {
		scopes = client.Scopes
	}
	var denied []string
	for _, sc := range scopes {
		if !slices.Contains(client.Scopes, sc) {
			denied = append(denied, sc)
		}
	}
	if len(denied) > 0 {
		return nil, wire.StatusError(guard.InsufficientScope(denied))
	}
	raw, life, err := s.sessions.IssueClientToken(ctx, client, scopes, bind)
	if err != nil {
		return nil, s.statusError(ctx, "client token", err)
	}
	scope := strings.Join(scopes, " ")
	s.cfg.Logger.InfoContext(ctx, "client token", "client", client.Name, "scope", scope, "bound", bind != nil)
	return &authv1.IssueClientTokenResponse{AccessToken: raw, ExpiresIn: seconds(life), Scope: scope, TokenType: tokenType(bind)}, nil
}
