package service

import (
	"context"
	"encoding/base64"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/session"
)

// Passkeys: the WebAuthn ceremonies of registration, login (a second
// factor after a password, or passwordless) and step-up. The checks —
// the ceremony's state, spent once, the assertion, the signature
// counter, throttling — are accounts.Manager's; the session engine
// records what was proven.

// BeginPasskeyRegistration implements authv1.AuthServiceServer.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, _ *authv1.BeginPasskeyRegistrationRequest) (*authv1.BeginPasskeyRegistrationResponse, error) {
	c, err := s.factorClaims(ctx)
	if err != nil {
		return nil, err
	}
	cer, err := s.accounts.BeginPasskeyRegistration(ctx, c.Subject, c.SessionID)
	if err != nil {
		return nil, s.statusError(ctx, "begin passkey registration", err)
	}
	return &authv1.BeginPasskeyRegistrationResponse{OptionsJson: string(cer.Options), CeremonyToken: cer.Token, ExpiresIn: seconds(cer.TTL)}, nil
}

// FinishPasskeyRegistration implements authv1.AuthServiceServer.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, req *authv1.FinishPasskeyRegistrationRequest) (*authv1.FinishPasskeyRegistrationResponse, error) {
	c, err := s.factorClaims(ctx)
	if err != nil {
		return nil, err
	}
	id, err := s.accounts.FinishPasskeyRegistration(ctx, c.Subject, c.SessionID, req.GetCeremonyToken(), []byte(req.GetCredentialJson()), req.GetName())
	if err != nil {
		return nil, s.statusError(ctx, "finish passkey registration", err)
	}
	credentialID := base64.RawURLEncoding.EncodeToString(id)
	s.cfg.Logger.InfoContext(ctx, "passkey registered", "user", c.Subject, "credential", credentialID)
	return &authv1.FinishPasskeyRegistrationResponse{CredentialId: credentialID}, nil
}

// BeginPasskeyLogin implements authv1.AuthServiceServer.
func (s *Service) BeginPasskeyLogin(ctx context.Context, req *authv1.BeginPasskeyLoginRequest) (*authv1.BeginPasskeyLoginResponse, error) {
	cer, err := s.accounts.BeginPasskeyLogin(ctx, req.GetSecondFactorToken())
	if err != nil {
		return nil, s.statusError(ctx, "begin passkey login", err)
	}
	return &authv1.BeginPasskeyLoginResponse{OptionsJson: string(cer.Options), CeremonyToken: cer.Token, ExpiresIn: seconds(cer.TTL)}, nil
}

// FinishPasskeyLogin implements authv1.AuthServiceServer.
func (s *Service) FinishPasskeyLogin(ctx context.Context, req *authv1.FinishPasskeyLoginRequest) (*authv1.FinishPasskeyLoginResponse, error) {
	bind, err := s.keyBinding(interceptors.Call(ctx, authv1.AuthService_FinishPasskeyLogin_FullMethodName))
	if err != nil {
		return nil, s.statusError(ctx, "passkey login", err)
	}
	user, amr, err := s.accounts.FinishPasskeyLogin(ctx, req.GetCeremonyToken(), []byte(req.GetCredentialJson()), s.clientAddress(ctx))
	s.countLogin(ctx, user.Name, err)
	if err != nil {
		return nil, s.statusError(ctx, "passkey login", err)
	}
	tokens, err := s.open(ctx, "passkey login", user, session.Proof{AMR: amr, Bind: bind}, req.GetSetCookies())
	if err != nil {
		return nil, err
	}
	return &authv1.FinishPasskeyLoginResponse{
		AccessToken: tokens.Access, RefreshToken: tokens.Refresh, TokenType: tokenType(bind),
		ExpiresIn: seconds(tokens.AccessExpiresIn), RefreshExpiresIn: seconds(tokens.RefreshExpiresIn),
	}, nil
}

// BeginPasskeyStepUp implements authv1.AuthServiceServer.
func (s *Service) BeginPasskeyStepUp(ctx context.Context, _ *authv1.BeginPasskeyStepUpRequest) (*authv1.BeginPasskeyStepUpResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	cer, err := s.accounts.BeginPasskeyStepUp(ctx, c.Subject, c.SessionID)
	if err != nil {
		return nil, s.statusError(ctx, "begin passkey step-up", err)
	}
	return &authv1.BeginPasskeyStepUpResponse{OptionsJson: string(cer.Options), CeremonyToken: cer.Token, ExpiresIn: seconds(cer.TTL)}, nil
}

// FinishPasskeyStepUp implements authv1.AuthServiceServer.
func (s *Service) FinishPasskeyStepUp(ctx context.Context, req *authv1.FinishPasskeyStepUpRequest) (*authv1.FinishPasskeyStepUpResponse, error) {
	c, err := claims(ctx)
	if err != nil {
		return nil, err
	}
	amr, err := s.accounts.FinishPasskeyStepUp(ctx, c.Subject, c.SessionID, req.GetCeremonyToken(), []byte(req.GetCredentialJson()), s.clientAddress(ctx), c.AMR)
	if err != nil {
		return nil, s.statusError(ctx, "passkey step-up", err)
	}
	access, life, err := s.sessions.StepUp(ctx, c, amr)
	if err != nil {
		return nil, s.statusError(ctx, "passkey step-up", err)
	}
	s.cfg.Logger.InfoContext(ctx, "step-up", "user", c.Subject, "sid", c.SessionID, "amr", amr)
	if guard.FromCookie(ctx) {
		s.setAccessCookie(ctx, access, life)
		access = ""
	}
	return &authv1.FinishPasskeyStepUpResponse{AccessToken: access, ExpiresIn: seconds(life)}, nil
}
