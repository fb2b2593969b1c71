package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// Login implements authv1.AuthServiceServer. An unknown user, a wrong
// password and a disabled account all cost one argon2id hash and return the
// same INVALID_CREDENTIALS error.
func (s *Service) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	if err := accounts.ValidateUsername(req.GetUsername()); err != nil {
		return nil, invalidArgument("%v", err)
	}
	if err := accounts.ValidateLoginPassword(req.GetPassword()); err != nil {
		return nil, invalidArgument("%v", err)
	}
	user, err := s.authenticate(ctx, req.GetUsername(), req.GetPassword(), s.passwordAccount)
	switch {
	case err == nil:
		s.cfg.metrics.login("ok")
	case errors.As(err, new(*wire.ThrottledError)):
		s.cfg.metrics.login("throttled")
	case errors.Is(err, wire.ErrInvalidCredentials):
		s.cfg.metrics.login("failed")
		// The name helps spot a guessing run; the password is never logged.
		s.cfg.logger.InfoContext(ctx, "login failed", "user", req.GetUsername())
	}
	if err != nil {
		return nil, s.statusError(ctx, "login", err)
	}
	pair, err := s.openSession(ctx, user)
	if err != nil {
		return nil, s.statusError(ctx, "login", err)
	}
	s.cfg.logger.InfoContext(ctx, "login", "user", user.Name, "sid", pair.sid)
	return &authv1.LoginResponse{
		AccessToken:      pair.access,
		RefreshToken:     pair.refresh,
		TokenType:        "Bearer",
		ExpiresIn:        pair.accessExpiresIn,
		RefreshExpiresIn: pair.refreshExpiresIn,
	}, nil
}

// lookup finds the account a credential names: a person by username
// (passwordAccount) or a service account by client id (clientAccount). An
// account of the other kind is not found.
type lookup func(ctx context.Context, name string) (store.User, error)

func (s *Service) passwordAccount(ctx context.Context, name string) (store.User, error) {
	u, err := s.store.UserByName(ctx, name)
	if err == nil && u.ClientID != "" {
		return store.User{}, store.ErrNotFound // service accounts do not log in with a password
	}
	return u, err
}

func (s *Service) clientAccount(ctx context.Context, clientID string) (store.User, error) {
	return s.store.ClientByID(ctx, clientID)
}

// authenticate checks the secret of the account name under the throttling
// policy: the attempt is reserved before the hash (a throttled attempt is
// refused unchecked), then a failure is counted or a success clears the
// account's counters. A failure that cannot be counted is not answered as
// one: the caller gets Unavailable, so a full disk never turns Login into
// an oracle that checks passwords without counting.
func (s *Service) authenticate(ctx context.Context, name, pw string, find lookup) (store.User, error) {
	if !s.cfg.throttleOn {
		return s.checkPassword(ctx, name, pw, find)
	}
	keys := s.throttleKeys(ctx, name)
	wait, err := s.reserve(ctx, keys)
	if err != nil {
		return store.User{}, err
	}
	if wait > 0 {
		s.cfg.logger.WarnContext(ctx, "login throttled", "user", name, "wait", wait)
		return store.User{}, &wire.ThrottledError{Wait: wait}
	}
	user, err := s.checkPassword(ctx, name, pw, find)
	failed := errors.Is(err, wire.ErrInvalidCredentials)
	if serr := s.settle(ctx, keys, failed, err == nil); serr != nil {
		if failed {
			return store.User{}, fmt.Errorf("counting a failed login: %w", serr)
		}
		s.cfg.logger.WarnContext(ctx, "settling a login attempt failed", "err", serr)
	}
	return user, err
}

// checkPassword returns the user when name and pw match an enabled account,
// and wire.ErrInvalidCredentials otherwise. A matching hash with outdated
// parameters is replaced.
func (s *Service) checkPassword(ctx context.Context, name, pw string, find lookup) (store.User, error) {
	user, err := find(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	// user.PasswordHash is "" for an unknown user: Verify then checks a
	// dummy hash, so both cases take the same time.
	ok, rehash, err := s.hasher.Verify(ctx, pw, user.PasswordHash)
	if err != nil {
		return store.User{}, err
	}
	if !ok || user.Disabled {
		return store.User{}, wire.ErrInvalidCredentials
	}
	if rehash {
		if hash, err := s.hasher.Hash(ctx, pw); err == nil {
			// The same password, stronger parameters: no change of the
			// user's, so no session ends (SetPassword would end them all).
			if err := s.store.RehashPassword(ctx, user.Name, user.PasswordHash, hash); err != nil {
				s.cfg.logger.WarnContext(ctx, "password rehash failed", "user", user.Name, "err", err)
			}
		}
	}
	return user, nil
}

// ChangePassword implements authv1.AuthServiceServer: it needs a fresh access
// token and the old password, and revokes every other session of the user.
func (s *Service) ChangePassword(ctx context.Context, req *authv1.ChangePasswordRequest) (*authv1.ChangePasswordResponse, error) {
	claims, ok := interceptors.ClaimsFromContext(ctx)
	if !ok {
		return nil, wire.StatusError(wire.ErrMissing)
	}
	if err := accounts.ValidateLoginPassword(req.GetOldPassword()); err != nil {
		return nil, invalidArgument("old_password: %v", err)
	}
	if err := accounts.ValidatePassword(req.GetNewPassword()); err != nil {
		return nil, invalidArgument("new_password: %v", err)
	}
	user, err := s.authenticate(ctx, claims.Subject, req.GetOldPassword(), s.passwordAccount)
	if err != nil {
		return nil, s.statusError(ctx, "change password", err)
	}
	hash, err := s.hasher.Hash(ctx, req.GetNewPassword())
	if err != nil {
		return nil, s.statusError(ctx, "change password", err)
	}
	if err := s.store.SetPassword(ctx, user.Name, hash, s.now()); err != nil {
		return nil, s.statusError(ctx, "change password", err)
	}
	n, err := s.store.RevokeUserSessions(ctx, user.ID, claims.SessionID, s.now())
	if err != nil {
		return nil, s.statusError(ctx, "change password", err)
	}
	s.revoked(ctx)
	s.cfg.metrics.revoked("password_change", n)
	s.cfg.logger.InfoContext(ctx, "password changed", "user", user.Name, "revoked_sessions", n)
	return &authv1.ChangePasswordResponse{}, nil
}
