package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/text/secure/precis"
	"google.golang.org/grpc/codes"

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
	store.Throttles
	store.SecondFactors
	store.Ceremonies
}

// Sessions ends sessions: authd's session engine (session.Engine), which
// also tells its cache and the revocation feed.
type Sessions interface {
	// Revoke ends one session; an unknown one is store.ErrNotFound.
	Revoke(ctx context.Context, sid string) error
	// RevokeUser ends every live session of userID but except ("" for
	// none), and returns how many.
	RevokeUser(ctx context.Context, userID int64, except string) (int, error)
}

// Config is how a Manager authenticates and whom it tells.
type Config struct {
	// Sessions ends the sessions of accounts whose rights change (nil: the
	// store's, telling no cache or feed).
	Sessions Sessions
	// Throttle is the throttling policy of Authenticate and ChangePassword
	// (zero: DefaultThrottlePolicy).
	Throttle ThrottlePolicy
	// Secrets seals second-factor secrets at rest (nil: kept as they are,
	// in SQLite's private file; a shared database needs the
	// key-encryption secret, keys.KeyEncryptionKey).
	Secrets Sealer
	// Passkeys is the relying party passkeys are registered with (zero:
	// passkeys are off, and their methods answer ErrPasskeysOff). New
	// ignores an invalid one: check it with RelyingParty.Validate first.
	Passkeys RelyingParty
	// Unthrottled turns throttling off: for tests of other things.
	Unthrottled bool
	// Counters keeps the attempt counters (nil: the store; Redis shares
	// them across instances, store/redisstore).
	Counters store.Throttles
	// Logger hears of what fails without failing the call: a counter that
	// could not be settled after a success, a rehash that could not be
	// stored (nil: slog.Default()). Secrets are never logged.
	Logger *slog.Logger
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// Manager changes and authenticates accounts in a Store: the one write
// path of accounts. It is safe for concurrent use.
type Manager struct {
	store    Store
	hasher   *password.Hasher
	sessions Sessions
	counters store.Throttles
	webauthn *webauthn.WebAuthn // nil: passkeys are off
	cfg      Config
}

// New returns a Manager hashing passwords and secrets with hasher.
func New(st Store, hasher *password.Hasher, cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.System()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Throttle == (ThrottlePolicy{}) {
		cfg.Throttle = DefaultThrottlePolicy
	}
	m := &Manager{store: st, hasher: hasher, sessions: cfg.Sessions, counters: cfg.Counters, cfg: cfg}
	if m.sessions == nil {
		m.sessions = storeSessions{st: st, clock: cfg.Clock}
	}
	if m.counters == nil {
		m.counters = st
	}
	if cfg.Passkeys.Enabled() {
		m.webauthn, _ = cfg.Passkeys.webauthn()
	}
	return m
}

// storeSessions ends sessions in the store alone.
type storeSessions struct {
	st    store.Sessions
	clock clock.Clock
}

func (s storeSessions) Revoke(ctx context.Context, sid string) error {
	return s.st.RevokeSession(ctx, sid, s.clock.Now())
}

func (s storeSessions) RevokeUser(ctx context.Context, userID int64, except string) (int, error) {
	return s.st.RevokeUserSessions(ctx, userID, except, s.clock.Now())
}

// Refusals of the accounts, as callers see them.
var (
	// ErrInvalidCredentials is one error for an unknown account, a wrong
	// password or secret and a disabled account, so a caller cannot tell
	// them apart.
	ErrInvalidCredentials = wire.NewError(codes.Unauthenticated, wire.ReasonInvalidCredentials, "invalid username or password")
	// ErrThrottled: too many failed attempts; the next one is checked after
	// the RetryDelay of the refusal, and this one was not.
	ErrThrottled = wire.NewError(codes.ResourceExhausted, "", "too many failed logins")
	// ErrLoginInFlight: too many attempts still being checked, for this
	// account from this address or from this address (not failures: none
	// may have failed); this one was not checked and counts nothing. Retry
	// after the RetryDelay of the refusal.
	ErrLoginInFlight = wire.NewError(codes.ResourceExhausted, wire.ReasonLoginInFlight, "too many logins in progress")
	// ErrNotFound and ErrExists: the account (or session) named does not
	// exist, or already does; the refusal's message says which.
	ErrNotFound = wire.NewError(codes.NotFound, "", "not found")
	ErrExists   = wire.NewError(codes.AlreadyExists, "", "already exists")
)

func throttled(wait time.Duration) error {
	rounded := (wait + time.Second - 1).Truncate(time.Second)
	return ErrThrottled.Detail(fmt.Sprintf("too many failed logins; retry in %s", rounded), nil, wait)
}

func inFlight(wait time.Duration) error {
	rounded := (wait + time.Second - 1).Truncate(time.Second)
	return ErrLoginInFlight.Detail(fmt.Sprintf("too many logins in progress from this address or for this account; retry in %s", rounded), nil, wait)
}

func notFound(format string, args ...any) error {
	return ErrNotFound.Detail(fmt.Sprintf(format, args...), nil, 0)
}

func exists(format string, args ...any) error {
	return ErrExists.Detail(fmt.Sprintf(format, args...), nil, 0)
}

// ClientPrefix starts the name of every service account: a client NAME is
// the account "client:NAME", and its tokens' sub.
const ClientPrefix = "client:"

// MaxUsername is the longest username, in bytes.
const MaxUsername = 256

// ValidateUsername reports what is wrong with a username presented to log
// in, if anything: it must be 1 to MaxUsername bytes of printable UTF-8
// without surrounding spaces. It is looser than NewUsername so that names
// created before names had to conform keep logging in.
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

// NewUsername checks a new username and returns it as it is stored: it
// must conform to RFC 8265's UsernameCaseMapped profile, and is kept in
// its case-preserving form (precis.UsernameCasePreserved: fullwidth forms
// mapped to ASCII, NFC), with its letters from one script (or Latin with
// Han and the Japanese kana, Bopomofo or Hangul, after Unicode TS #39's
// "highly restrictive"), so that a name cannot pass for another by
// mixing, say, Cyrillic letters into a Latin one. Names are unique under
// their case-folded form (store.NameKey): "Alice" is taken once "alice"
// is. A name whose key starts with ClientPrefix ("Client:x", fullwidth
// spellings too) is kept for service accounts.
func NewUsername(name string) (string, error) {
	if err := ValidateUsername(name); err != nil {
		return "", err
	}
	prepared, err := precis.UsernameCasePreserved.String(name)
	switch {
	case err != nil:
		return "", fmt.Errorf("username %q does not conform to RFC 8265 (letters, digits and printable ASCII symbols, no spaces): %v", name, err)
	case prepared == "" || len(prepared) > MaxUsername:
		return "", errors.New("username must be 1 to 256 bytes")
	case !oneScript(prepared):
		return "", fmt.Errorf("username %q mixes scripts", name)
	case strings.HasPrefix(store.NameKey(prepared), ClientPrefix):
		return "", fmt.Errorf("usernames starting with %q are kept for service accounts", ClientPrefix)
	}
	return prepared, nil
}

// oneScript reports whether the letters of name are of one script, Common
// and Inherited aside, or of one of the combinations TS #39's "highly
// restrictive" level allows: Latin, Han and Hiragana and Katakana; Latin,
// Han and Bopomofo; Latin, Han and Hangul.
func oneScript(name string) bool {
	seen := map[string]bool{}
	for _, r := range name {
		for script, table := range unicode.Scripts {
			if script != "Common" && script != "Inherited" && unicode.Is(table, r) {
				seen[script] = true
				break
			}
		}
	}
	if len(seen) <= 1 {
		return true
	}
	for _, allowed := range [][]string{
		{"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"},
	} {
		within := true
		for script := range seen {
			within = within && slices.Contains(allowed, script)
		}
		if within {
			return true
		}
	}
	return false
}

func invalid(format string, args ...any) error { return wire.InvalidArgument(format, args...) }

// translate turns the store's not-found and exists into the accounts', so
// that callers of the admin API hear NotFound and AlreadyExists.
func translate(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("%v", err)
	case errors.Is(err, store.ErrExists):
		return exists("%v", err)
	}
	return err
}

// CreateUser adds a person with a password and roles. The name must be new
// (NewUsername), and is stored in its prepared form.
func (m *Manager) CreateUser(ctx context.Context, name, pw string, roles []string) (store.User, error) {
	name, err := NewUsername(name)
	if err != nil {
		return store.User{}, invalid("%v", err)
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
	now := m.cfg.Clock.Now()
	u, err := m.store.CreateUser(ctx, name, hash, now)
	if errors.Is(err, store.ErrExists) {
		return store.User{}, exists("user %q already exists", name)
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
		return store.User{}, notFound("user %q not found", name)
	}
	return u, err
}

// Users returns up to limit people (all when limit <= 0) whose names sort
// after after, ordered by name: service accounts are left out.
func (m *Manager) Users(ctx context.Context, after string, limit int) ([]store.User, error) {
	return m.store.ListUsers(ctx, after, limit)
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
	return m.setPassword(ctx, u, pw, "")
}

// setPassword stores a new hash of pw for u and ends u's sessions but
// keep: every password change goes through it.
func (m *Manager) setPassword(ctx context.Context, u store.User, pw, keep string) (int, error) {
	hash, err := m.hasher.Hash(ctx, pw)
	if err != nil {
		return 0, err
	}
	if err := m.store.SetPassword(ctx, u.Name, hash, m.cfg.Clock.Now()); err != nil {
		return 0, translate(err)
	}
	return m.sessions.RevokeUser(ctx, u.ID, keep)
}

// SetDisabled disables an account (person or service account), ending all
// its sessions, or enables it again. Enabling an enabled account, or
// disabling a disabled one, changes nothing and ends no session. Either
// way every session a change of the account has ended is then recorded as
// revoked (Sessions.RevokeUser), so that consumers hear of it too: after a
// disable its sessions, after a change whose recording failed the ones it
// left.
func (m *Manager) SetDisabled(ctx context.Context, name string, disabled bool) (revoked int, err error) {
	u, err := m.store.UserByName(ctx, name)
	if err != nil {
		return 0, translate(err)
	}
	if err := m.store.SetDisabled(ctx, u.Name, disabled, m.cfg.Clock.Now()); err != nil {
		return 0, translate(err)
	}
	return m.sessions.RevokeUser(ctx, u.ID, "")
}

// SetRoles replaces a person's roles and ends all their sessions; the roles
// they have already (as a set) change nothing and end no session.
func (m *Manager) SetRoles(ctx context.Context, name string, roles []string) (store.User, int, error) {
	roles = slices.Compact(slices.Sorted(slices.Values(roles)))
	if err := token.ValidateNames(roles); err != nil {
		return store.User{}, 0, invalid("roles: %v", err)
	}
	u, err := m.User(ctx, name)
	if err != nil {
		return store.User{}, 0, err
	}
	if slices.Equal(roles, slices.Compact(slices.Sorted(slices.Values(u.Roles)))) {
		return u, 0, nil
	}
	if err := m.store.SetRoles(ctx, u.Name, roles, m.cfg.Clock.Now()); err != nil {
		return store.User{}, 0, translate(err)
	}
	u.Roles = roles
	n, err := m.sessions.RevokeUser(ctx, u.ID, "")
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
	return translate(m.sessions.Revoke(ctx, sid))
}

// Sessions lists up to limit (all when limit <= 0) of an account's live
// sessions, newest first, after the cursor.
func (m *Manager) Sessions(ctx context.Context, name string, after store.SessionCursor, limit int) ([]store.Session, error) {
	u, err := m.store.UserByName(ctx, name)
	if err != nil {
		return nil, translate(err)
	}
	return m.store.ListSessions(ctx, u.ID, after, limit, m.cfg.Clock.Now())
}
