package service

import (
	"context"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/session"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Second factors: enrolment of a TOTP authenticator, the second step of a
// login, step-up within a session, and removal. The checks (codes,
// replays, recovery codes, throttling) are accounts.Manager's; the session
// engine records what was proven (acr, amr, auth_time).

// loginChallenge answers a Login whose password was right for a user who
// has a second factor: no token, a second_factor_token instead.
func (s *Service) loginChallenge(ctx context.Context, user store.User) (*authv1.LoginResponse, error) {
	tok, ttl, err := s.accounts.Challenge(ctx, user)
	if err != nil {
		return nil, s.statusError(ctx, "login", err)
	}
	s.cfg.Logger.InfoContext(ctx, "login: second factor required", "user", user.Name)
	return &authv1.LoginResponse{SecondFactorRequired: true, SecondFactorToken: tok, SecondFactorExpiresIn: seconds(ttl)}, nil
}

// LoginSecondFactor implements authv1.AuthServiceServer.
func (s *Service) LoginSecondFactor(ctx context.Context, req *authv1.LoginSecondFactorRequest) (*authv1.LoginSecondFactorResponse, error) {
	bind, err := s.keyBinding(interceptors.Call(ctx, authv1.AuthService_LoginSecondFactor_FullMethodName))
	if err != nil {
		return nil, s.statusError(ctx, "login second factor", err)
	}
	proof := accounts.SecondFactor{Code: req.GetCode(), RecoveryCode: req.GetRecoveryCode()}
	user, amr, err := s.accounts.CompleteLogin(ctx, req.GetSecondFactorToken(), proof, s.clientAddress(ctx))
	s.countLogin(ctx, user.Name, err)
	if err != nil {
		return nil, s.statusError(ctx, "login second factor", err)
	}
	tokens, err := s.open(ctx, "login second factor", user, session.Proof{AMR: amr, Bind: bind}, req.GetSetCookies())
	if err != nil {
		return nil, err
	}
	return &authv1.LoginSecondFactorResponse{
		AccessToken: tokens.Access, RefreshToken: tokens.Refresh, TokenType: tokenType(bind),
		ExpiresIn: seconds(tokens.AccessExpiresIn), RefreshExpiresIn: seconds(tokens.RefreshExpiresIn),
	}, nil
}

// factorClaims are the claims of a call that adds a second factor: a fresh
// token (the method's rule) and, once the user has a second factor, one
// that shows it (acr aal2). Otherwise a thief holding one factor — a
// passkey without its PIN — could add one of their own and wipe the
// owner's.
func (s *Service) factorClaims(ctx context.Context) (*token.Claims, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.accounts.User(ctx, c.Subject)
	if err != nil {
		return nil, s.statusError(ctx, "second factor", err)
	}
	if u.SecondFactor && !c.SecondFactor() {
		return nil, wire.StatusError(guard.StepUpRequired(guard.Rule{SecondFactor: true}))
	}
	return c, nil
}

// EnrollTOTP implements authv1.AuthServiceServer.
func (s *Service) EnrollTOTP(ctx context.Context, _ *authv1.EnrollTOTPRequest) (*authv1.EnrollTOTPResponse, error) {
	c, err := s.factorClaims(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.accounts.EnrollTOTP(ctx, c.Subject)
	if err != nil {
		return nil, s.statusError(ctx, "enroll totp", err)
	}
	s.cfg.Logger.InfoContext(ctx, "totp enrolment started", "user", c.Subject)
	return &authv1.EnrollTOTPResponse{Secret: e.Secret, Uri: e.URI}, nil
}

// ConfirmTOTP implements authv1.AuthServiceServer.
func (s *Service) ConfirmTOTP(ctx context.Context, req *authv1.ConfirmTOTPRequest) (*authv1.ConfirmTOTPResponse, error) {
	c, err := s.factorClaims(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := s.accounts.ConfirmTOTP(ctx, c.Subject, req.GetCode(), s.clientAddress(ctx))
	if err != nil {
		return nil, s.statusError(ctx, "confirm totp", err)
	}
	s.cfg.Logger.InfoContext(ctx, "totp enrolled", "user", c.Subject)
	return &authv1.ConfirmTOTPResponse{RecoveryCodes: codes}, nil
}

// StepUp implements authv1.AuthServiceServer.
func (s *Service) StepUp(ctx context.Context, req *authv1.StepUpRequest) (*authv1.StepUpResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	proof := accounts.SecondFactor{Code: req.GetCode(), RecoveryCode: req.GetRecoveryCode()}
	amr, err := s.accounts.StepUp(ctx, c.Subject, proof, s.clientAddress(ctx), c.AMR)
	if err != nil {
		return nil, s.statusError(ctx, "step up", err)
	}
	access, life, err := s.sessions.StepUp(ctx, c, amr)
	if err != nil {
		return nil, s.statusError(ctx, "step up", err)
	}
	s.cfg.Logger.InfoContext(ctx, "step-up", "user", c.Subject, "sid", c.SessionID, "amr", amr)
	if guard.FromCookie(ctx) {
		s.setAccessCookie(ctx, access, life)
		access = ""
	}
	return &authv1.StepUpResponse{AccessToken: access, ExpiresIn: seconds(life)}, nil
}

// DisableSecondFactor implements authv1.AuthServiceServer.
func (s *Service) DisableSecondFactor(ctx context.Context, _ *authv1.DisableSecondFactorRequest) (*authv1.DisableSecondFactorResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.accounts.ResetSecondFactors(ctx, c.Subject)
	if err != nil {
		return nil, s.statusError(ctx, "disable second factor", err)
	}
	s.cfg.Logger.InfoContext(ctx, "second factors removed by their user", "user", c.Subject, "removed", n)
	return &authv1.DisableSecondFactorResponse{Removed: int32(n)}, nil
}
