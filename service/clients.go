package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// IssueClientToken implements authv1.AuthServiceServer: the client
// credentials grant. The secret is checked like a password (argon2id, a
// dummy hash for unknown ids, throttled, one error for every failure);
// the token gets a session of its own, capped at its exp, so disabling the
// client or rotating its secret revokes it through the revocation list,
// and it can be neither refreshed nor renewed.
func (s *Service) IssueClientToken(ctx context.Context, req *authv1.IssueClientTokenRequest) (*authv1.IssueClientTokenResponse, error) {
	id, secret := req.GetClientId(), req.GetClientSecret()
	switch {
	case id == "" || len(id) > 256 || !utf8.ValidString(id):
		return nil, invalidArgument("client_id must be 1 to 256 bytes of UTF-8")
	case secret == "" || len(secret) > password.MaxLength || !utf8.ValidString(secret):
		return nil, invalidArgument("client_secret must be 1 to %d bytes of UTF-8", password.MaxLength)
	}
	if err := token.ValidateNames(req.GetScopes()); err != nil {
		return nil, invalidArgument("scopes: %v", err)
	}
	client, err := s.authenticate(ctx, id, secret, s.clientAccount)
	if err != nil {
		return nil, s.statusError(ctx, "client token", err)
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
		return nil, wire.StatusError(&wire.PermissionError{Err: wire.ErrInsufficientScope, Required: denied})
	}
	raw, exp, err := s.clientToken(ctx, client, scopes)
	if err != nil {
		return nil, s.statusError(ctx, "client token", err)
	}
	s.cfg.logger.InfoContext(ctx, "client token", "client", client.Name, "scope", strings.Join(scopes, " "))
	return &authv1.IssueClientTokenResponse{
		AccessToken: raw, ExpiresIn: secondsUntil(exp, s.now()), Scope: strings.Join(scopes, " "), TokenType: "Bearer",
	}, nil
}

// clientToken opens the token's session and signs it.
func (s *Service) clientToken(ctx context.Context, client store.User, scopes []string) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.cfg.accessTTL)
	sess := store.Session{
		ID: token.NewID(), UserID: client.ID, Username: client.Name, UserGeneration: client.Generation,
		AuthTime: now, CreatedAt: now, ExpiresAt: exp,
		Current: store.Rotation{AccessJTI: token.NewID(), AccessIssuedAt: now, AccessExpiresAt: exp,
			RefreshIssuedAt: now, RefreshExpiresAt: now},
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = wire.ErrInvalidCredentials // disabled or its secret rotated meanwhile
		}
		return "", time.Time{}, err
	}
	raw, err := s.signer.Sign(token.Claims{
		Subject:   client.Name,
		ExpiresAt: jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        sess.Current.AccessJTI,
		Type:      token.Access,
		SessionID: sess.ID,
		// No auth_time: no password was typed, so no fresh-for window
		// (interceptors.WithFreshMaxAge) can make the token fresh.
		Scope: strings.Join(scopes, " "),
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return raw, exp, nil
}
