package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Store is what the accounts need of a backend.
type Store interface {
	store.Users
	store.Clients
	store.Sessions
}

// Manager changes accounts in a Store. It is safe for concurrent use.
type Manager struct {
	store   Store
	hasher  *password.Hasher
	clock   clock.Clock
	revoked func(ctx context.Context, sids ...string)
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock sets the time source (default the system clock).
func WithClock(c clock.Clock) Option { return func(m *Manager) { m.clock = c } }

// WithRevocationHook calls f after sessions were revoked (no sids: every
// session of an account), so caches and feeds hear of it at once.
func WithRevocationHook(f func(ctx context.Context, sids ...string)) Option {
	return func(m *Manager) { m.revoked = f }
}

// New returns a Manager hashing passwords and secrets with hasher.
func New(st Store, hasher *password.Hasher, opts ...Option) *Manager {
	m := &Manager{store: st, hasher: hasher, clock: clock.System(), revoked: func(context.Context, ...string) {}}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// ClientPrefix starts the name of every service account: a client NAME is
// the account "client:NAME", and its tokens' sub.
const ClientPrefix = "client:"

// MaxUsername is the longest username, in bytes.
const MaxUsername = 256

// ValidateUsername reports what is wrong with a username, if anything: it
// must be 1 to MaxUsername bytes of printable UTF-8 without surrounding
// spaces, and not start with ClientPrefix.
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

func invalid(format string, args ...any) error { return wire.InvalidArgument(format, args...) }

// translate turns the store's not-found and exists into the wire's, so
// that callers of the admin API hear NotFound and AlreadyExists.
func translate(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return wire.Errorf(wire.ErrNotFound, "%v", err)
	case errors.Is(err, store.ErrExists):
		return wire.Errorf(wire.ErrExists, "%v", err)
	}
	return err
}

// CreateUser adds a person with a password and roles.
func (m *Manager) CreateUser(ctx context.Context, name, pw string, roles []string) (store.User, error) {
	if err := ValidateUsername(name); err != nil {
		return store.User{}, invalid("%v", err)
	}
	if strings.HasPrefix(name, ClientPrefix) {
		return store.User{}, invalid("usernames starting with %q are kept for service accounts", ClientPrefix)
	}
	if err := ValidatePassword(pw); err != nil {
		return store.User{}, invalid("password: %v", err)
	}
	roles = slices.Sorted(slices.Values(roles)) // as SetRoles stores them
	if err := token.ValidateNames(roles); err != nil {
		return store.User{}, invalid("roles: %v", err)
	}
	hash, err := m.hasher.Hash(ctx, pw)
	if err != nil {
		return store.User{}, err
	}
	now := m.clock.Now()
	u, err := m.store.CreateUser(ctx, name, hash, now)
	if errors.Is(err, store.ErrExists) {
		return store.User{}, wire.Errorf(wire.ErrExists, "user %q already exists", name)
	}
	if err != nil {
		return store.User{}, err
	}
	if len(roles) > 0 {
		if err := m.store.SetRoles(ctx, name, roles, now); err != nil {
			return u, fmt.Errorf("user %q created without roles: %w", name, err)
		}
		u.Roles = roles
	}
	return u, nil
}

// User returns a person's account.
func (m *Manager) User(ctx context.Context, name string) (store.User, error) {
	u, err := m.store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.ClientID != "") {
		return store.User{}, wire.Errorf(wire.ErrNotFound, "user %q not found", name)
	}
	return u, err
}

// SetPassword replaces a person's password and ends all their sessions.
func (m *Manager) SetPassword(ctx context.Context, name, pw string) (revoked int, err error) {
	if err := ValidatePassword(pw); err != nil {
		return 0, invalid("password: %v", err)
	}
	u, err := m.User(ctx, name)
	if err != nil {
		return 0, err
	}
	hash, err := m.hasher.Hash(ctx, pw)
	if err != nil {
		return 0, err
	}
	if err := m.store.SetPassword(ctx, name, hash, m.clock.Now()); err != nil {
		return 0, translate(err)
	}
	return m.endSessions(ctx, u)
}

// SetDisabled disables an account (person or service account), ending all
// its sessions, or enables it again.
func (m *Manager) SetDisabled(ctx context.Context, name string, disabled bool) (revoked int, err error) {
	if err := m.store.SetDisabled(ctx, name, disabled, m.clock.Now()); err != nil {
		return 0, translate(err)
	}
	if !disabled {
		return 0, nil
	}
	u, err := m.store.UserByName(ctx, name)
	if err != nil {
		return 0, translate(err)
	}
	return m.endSessions(ctx, u)
}

// SetRoles replaces a person's roles and ends all their sessions.
func (m *Manager) SetRoles(ctx context.Context, name string, roles []string) (store.User, int, error) {
	roles = slices.Sorted(slices.Values(roles))
	if err := token.ValidateNames(roles); err != nil {
		return store.User{}, 0, invalid("roles: %v", err)
	}
	u, err := m.User(ctx, name)
	if err != nil {
		return store.User{}, 0, err
	}
	if err := m.store.SetRoles(ctx, name, roles, m.clock.Now()); err != nil {
		return store.User{}, 0, translate(err)
	}
	u.Roles = roles
	n, err := m.endSessions(ctx, u)
	return u, n, err
}

// ChangeRoles adds and removes roles of a person (SetRoles). Removing a
// role the user does not have is an error, and changes nothing.
func (m *Manager) ChangeRoles(ctx context.Context, name string, add, remove []string) (store.User, int, error) {
	u, err := m.User(ctx, name)
	if err != nil {
		return store.User{}, 0, err
	}
	for i, r := range remove {
		if slices.Contains(remove[:i], r) {
			return store.User{}, 0, invalid("role %q is to be removed twice", r)
		}
	}
	next := slices.Clone(u.Roles)
	for _, r := range remove {
		i := slices.Index(next, r)
		if i < 0 {
			return store.User{}, 0, invalid("user %q has no role %q (roles: [%s])", name, r, strings.Join(u.Roles, " "))
		}
		next = slices.Delete(next, i, i+1)
	}
	for _, r := range add {
		if !slices.Contains(next, r) {
			next = append(next, r)
		}
	}
	if slices.Equal(slices.Sorted(slices.Values(next)), slices.Sorted(slices.Values(u.Roles))) {
		return u, 0, nil // nothing changes: no session ends
	}
	return m.SetRoles(ctx, name, next)
}

// RevokeSession ends one session.
func (m *Manager) RevokeSession(ctx context.Context, sid string) error {
	if err := m.store.RevokeSession(ctx, sid, m.clock.Now()); err != nil {
		return translate(err)
	}
	m.revoked(ctx, sid)
	return nil
}

// Sessions lists an account's live sessions, newest first.
func (m *Manager) Sessions(ctx context.Context, name string) ([]store.Session, error) {
	u, err := m.store.UserByName(ctx, name)
	if err != nil {
		return nil, translate(err)
	}
	return m.store.ListSessions(ctx, u.ID, m.clock.Now())
}

func (m *Manager) endSessions(ctx context.Context, u store.User) (int, error) {
	n, err := m.store.RevokeUserSessions(ctx, u.ID, "", m.clock.Now())
	if err != nil {
		return 0, err
	}
	if n > 0 {
		m.revoked(ctx)
	}
	return n, nil
}
