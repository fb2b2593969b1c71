package accounts

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
)

// Kind is what a credential names an account by.
type Kind int

const (
	// Person: a username and a password (Login).
	Person Kind = iota
	// Service: a client id and a secret (IssueClientToken).
	Service
)

// MaxClientID is the longest client id Authenticate looks up, in bytes.
const MaxClientID = 256

// Authenticate returns the enabled account that name and secret identify
// — a person by username and password, or a service account by client id
// and secret — for a client at addr, under the throttling policy.
//
// The attempt is reserved before the hash (a throttled attempt is refused
// unchecked with ErrThrottled, or ErrLoginInFlight when attempts still in
// flight refuse it, and counts nothing), then a failure is
// counted or a success clears the account's counters. An unknown account,
// a wrong secret and a disabled account all cost one argon2id hash and
// return ErrInvalidCredentials. A failure that cannot be counted is not
// answered as one: the caller gets the store's error (Unavailable at the
// edge), so that a full disk never turns Login into an oracle that checks
// passwords without counting. A matching hash with outdated parameters is
// replaced.
func (m *Manager) Authenticate(ctx context.Context, kind Kind, name, secret, addr string) (store.User, error) {
	if err := validateCredential(kind, name, secret); err != nil {
		return store.User{}, err
	}
	if m.cfg.Unthrottled {
		return m.check(ctx, kind, name, secret)
	}
	keys := newThrottleKeys(name, addr)
	attempt := token.NewID()
	refusal, err := m.reserve(ctx, attempt, keys)
	if err != nil {
		return store.User{}, err
	}
	if refusal.Refused() {
		if refusal.InFlight {
			return store.User{}, inFlight(refusal.Wait)
		}
		return store.User{}, throttled(refusal.Wait)
	}
	user, err := m.check(ctx, kind, name, secret)
	failed := errors.Is(err, ErrInvalidCredentials)
	if serr := m.settle(ctx, attempt, keys, failed, err == nil); serr != nil {
		if failed {
			return store.User{}, fmt.Errorf("counting a failed login: %w", serr)
		}
		m.cfg.Logger.WarnContext(ctx, "settling a login attempt failed", "err", serr)
	}
	return user, err
}

func validateCredential(kind Kind, name, secret string) error {
	if kind == Service {
		switch {
		case name == "" || len(name) > MaxClientID || !utf8.ValidString(name):
			return invalid("client_id must be 1 to %d bytes of UTF-8", MaxClientID)
		case secret == "" || len(secret) > password.MaxLength || !utf8.ValidString(secret):
			return invalid("client_secret must be 1 to %d bytes of UTF-8", password.MaxLength)
		}
		return nil
	}
	if err := ValidateUsername(name); err != nil {
		return invalid("%v", err)
	}
	if err := ValidateLoginPassword(secret); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// check returns the account when name and secret match an enabled one,
// and ErrInvalidCredentials otherwise.
func (m *Manager) check(ctx context.Context, kind Kind, name, secret string) (store.User, error) {
	user, err := m.find(ctx, kind, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	// user.PasswordHash is "" for an unknown account: Verify then checks a
	// dummy hash, so both cases take the same time.
	ok, rehash, err := m.hasher.Verify(ctx, secret, user.PasswordHash)
	if err != nil {
		return store.User{}, err
	}
	if !ok || user.Disabled {
		return store.User{}, ErrInvalidCredentials
	}
	if rehash {
		if hash, err := m.hasher.Hash(ctx, secret); err == nil {
			// The same secret, stronger parameters: no change of the
			// account's, so no session ends.
			if err := m.store.RehashPassword(ctx, user.Name, user.PasswordHash, hash); err != nil {
				m.cfg.Logger.WarnContext(ctx, "password rehash failed", "user", user.Name, "err", err)
			}
		}
	}
	return user, nil
}

// find looks up the account a credential names; one of the other kind is
// not found (service accounts do not log in with a password).
func (m *Manager) find(ctx context.Context, kind Kind, name string) (store.User, error) {
	if kind == Service {
		return m.store.ClientByID(ctx, name)
	}
	u, err := m.store.UserByName(ctx, name)
	if err == nil && u.ClientID != "" {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

// ChangePassword replaces the password of the person name, who proves it
// with the old one (checked and throttled as a login from addr), and ends
// every other session of theirs; keep, the session asking, is kept. It
// returns how many sessions ended.
func (m *Manager) ChangePassword(ctx context.Context, name, old, new, addr, keep string) (int, error) {
	if err := ValidateLoginPassword(old); err != nil {
		return 0, invalid("old_password: %v", err)
	}
	if err := ValidatePassword(new); err != nil {
		return 0, invalid("new_password: %v", err)
	}
	u, err := m.Authenticate(ctx, Person, name, old, addr)
	if err != nil {
		return 0, err
	}
	return m.setPassword(ctx, u, new, keep)
}
