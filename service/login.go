package service

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// MaxUsername is the longest username, in bytes.
const MaxUsername = 256

// ValidateUsername reports what is wrong with a username, if anything: it
// must be 1 to MaxUsername bytes of printable UTF-8 without surrounding
// spaces.
func ValidateUsername(name string) error {
	switch {
	case name == "":
		return errors.New("username is empty")
	case len(name) > MaxUsername:
		return errors.New("username is too long")
	case !utf8.ValidString(name):
		return errors.New("username is not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("username has leading or trailing spaces")
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }):
		return errors.New("username has control characters")
	}
	return nil
}

// ValidatePassword reports what is wrong with a password, if anything: 1 to
// password.MaxLength bytes of UTF-8.
func ValidatePassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("password is empty")
	case len(pw) > password.MaxLength:
		return password.ErrTooLong
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	}
	return nil
}

// Login implements authv1.AuthServiceServer. An unknown user, a wrong
// password and a disabled account all cost one argon2id hash and return the
// same INVALID_CREDENTIALS error.
func (s *Service) Login(ctx context.Context, req *authv1.LoginRequest) (*authv1.LoginResponse, error) {
	if err := ValidateUsername(req.GetUsername()); err != nil {
		return nil, invalidArgument("%v", err)
	}
	if err := ValidatePassword(req.GetPassword()); err != nil {
		return nil, invalidArgument("%v", err)
	}
	user, err := s.authenticate(ctx, req.GetUsername(), req.GetPassword())
	switch {
	case err == nil:
		s.cfg.metrics.login("ok")
	case errors.As(err, new(*wire.ThrottledError)):
		s.cfg.metrics.login("throttled")
	case errors.Is(err, wire.ErrInvalidCredentials):
		s.cfg.metrics.login("failed")
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

// authenticate checks name's password under the throttling policy: a
// throttled attempt is refused unchecked, a failure is counted, a success
// clears the account's counters.
func (s *Service) authenticate(ctx context.Context, name, pw string) (store.User, error) {
	if !s.cfg.throttleOn {
		return s.checkPassword(ctx, name, pw)
	}
	keys := newThrottleKeys(ctx, name)
	wait, err := s.throttled(ctx, keys)
	if err != nil {
		return store.User{}, err
	}
	if wait > 0 {
		s.cfg.logger.WarnContext(ctx, "login throttled", "user", name, "wait", wait)
		return store.User{}, &wire.ThrottledError{Wait: wait}
	}
	user, err := s.checkPassword(ctx, name, pw)
	switch {
	case errors.Is(err, wire.ErrInvalidCredentials):
		s.recordFailure(ctx, keys)
	case err == nil:
		s.clearFailures(ctx, keys)
	}
	return user, err
}

// checkPassword returns the user when name and pw match an enabled account,
// and wire.ErrInvalidCredentials otherwise. A matching hash with outdated
// parameters is replaced.
func (s *Service) checkPassword(ctx context.Context, name, pw string) (store.User, error) {
	user, err := s.store.UserByName(ctx, name)
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
			if err := s.store.SetPassword(ctx, user.Name, hash, s.now()); err != nil {
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
	if err := ValidatePassword(req.GetOldPassword()); err != nil {
		return nil, invalidArgument("old_password: %v", err)
	}
	if err := ValidatePassword(req.GetNewPassword()); err != nil {
		return nil, invalidArgument("new_password: %v", err)
	}
	user, err := s.authenticate(ctx, claims.Subject, req.GetOldPassword())
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
