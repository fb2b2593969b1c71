package store

import (
	"context"
	"errors"
	"time"
)

// Errors with identity, shared by every backend.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict: a compare-and-swap lost (the refresh token was not the
	// session's current one, or the session is revoked).
	ErrConflict = errors.New("conflict")
)

// User is an account that can log in.
type User struct {
	ID   int64
	Name string
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	// Roles go into the user's access tokens (the roles claim).
	Roles    []string
	Disabled bool
	// ClientID is set for a service account (a machine caller that gets
	// tokens with IssueClientToken); PasswordHash then hashes its secret.
	ClientID string
	// Scopes are what a service account may ask for (the scope claim).
	Scopes []string
	// Generation moves with every change that ends the user's sessions
	// (password, disabled, roles), in the same statement; a change to what
	// the user already is moves nothing.
	Generation int64
	// RequireBinding, for a service account, refuses it bearer tokens:
	// IssueClientToken binds each to a DPoP key or the client certificate.
	RequireBinding bool
	// SecondFactor (read only) is set when the user has a confirmed TOTP
	// authenticator or a passkey: a password alone no longer logs it in.
	SecondFactor bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is one login: the family of refresh tokens it issues, and the
// access tokens minted from them, share its id (the sid claim).
type Session struct {
	ID       string
	UserID   int64
	Username string
	// Roles are the user's roles now (read with the session, so a refresh
	// sees a role removed since the login); Scopes the scopes the account
	// was granted (a service account's), read likewise.
	Roles  []string
	Scopes []string
	// UserGeneration is the user's generation the session was opened
	// under; Stale (read only) is set when the user has since moved on or
	// been disabled: the session is over, revoked or not.
	UserGeneration int64
	Stale          bool
	// AuthTime is when the user last proved who they are (the password,
	// a second factor, a step-up); ExpiresAt the absolute cap no token of
	// the session outlives.
	AuthTime time.Time
	// ACR and AMR are how the user proved it (token.Claims' acr and amr),
	// carried by every token of the session.
	ACR string
	AMR []string
	// KeyThumbprint (cnf.jkt) and CertificateThumbprint (cnf.x5t#S256)
	// bind every token of the session to a DPoP key or a client
	// certificate; both empty for a bearer session.
	KeyThumbprint         string
	CertificateThumbprint string
	CreatedAt             time.Time
	ExpiresAt             time.Time
	// RevokedAt is zero while the session is live.
	RevokedAt time.Time
	// Current is the session's one live refresh token and the access token
	// minted with it. Its refresh token has never been used: using it
	// rotates it away.
	Current Rotation
	// Previous is the pair Current replaced: its refresh token
	// (Previous.RefreshJTI) was spent at PreviousSpentAt to mint Current,
	// and PreviousParentJTI was spent to mint Previous. So Previous's
	// refresh token is the spent one whose successor (Current) is unused,
	// and PreviousParentJTI the one whose successor (Previous) was first
	// used at PreviousSpentAt. Zero before the first rotation; only
	// Previous.RefreshJTI is known for a session rotated before this was
	// kept.
	Previous          Rotation
	PreviousSpentAt   time.Time
	PreviousParentJTI string
}

// Revoked reports whether the session has been revoked, or is stale.
func (s Session) Revoked() bool { return !s.RevokedAt.IsZero() || s.Stale }

// Rotation records the token pair one refresh (or the login) issued, enough
// to mint the identical pair again: signing is deterministic.
type Rotation struct {
	RefreshJTI       string
	RefreshIssuedAt  time.Time
	RefreshExpiresAt time.Time
	AccessJTI        string
	AccessIssuedAt   time.Time
	AccessExpiresAt  time.Time
}

// Users is the user table.
type Users interface {
	// CreateUser adds a user; ErrExists when the name, or its NameKey, is
	// taken.
	CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (User, error)
	// UserByName returns the user called name, or else the one whose
	// NameKey is name's, or ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// UserByID returns the account whose id is id (a user or a service
	// account), or ErrNotFound.
	UserByID(ctx context.Context, id int64) (User, error)
	// ListUsers returns up to limit users (all when limit <= 0) whose names
	// sort after after, ordered by name; service accounts are left out.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// SetPassword replaces the hash; ErrNotFound for an unknown user.
	SetPassword(ctx context.Context, name, passwordHash string, now time.Time) error
	// SetDisabled disables or enables a user; ErrNotFound for an unknown
	// user. Disabling a disabled user or enabling an enabled one changes
	// nothing: the generation stays.
	SetDisabled(ctx context.Context, name string, disabled bool, now time.Time) error
	// RehashPassword replaces oldHash, if it is still the user's, by
	// newHash of the same password with current parameters. Nothing about
	// the user changed: the generation stays, sessions go on.
	RehashPassword(ctx context.Context, name, oldHash, newHash string) error
	// SetRoles replaces a user's roles; ErrNotFound for an unknown user.
	// The same roles (in the same order) change nothing: the generation
	// stays.
	SetRoles(ctx context.Context, name string, roles []string, now time.Time) error
}

// Clients are the service accounts: users with a client id, a hashed
// secret and granted scopes, managed with the Users methods by name.
type Clients interface {
	// CreateClient adds a service account; ErrExists when the name (or its
	// NameKey) or the client id is taken.
	CreateClient(ctx context.Context, name, clientID, secretHash string, scopes []string, now time.Time) (User, error)
	// ClientByID returns the service account or ErrNotFound.
	ClientByID(ctx context.Context, clientID string) (User, error)
	// ListClients returns every service account ordered by name.
	ListClients(ctx context.Context) ([]User, error)
	// SetRequireBinding sets a service account's RequireBinding;
	// ErrNotFound for an unknown one. No session ends.
	SetRequireBinding(ctx context.Context, name string, require bool, now time.Time) error
}

// Sessions is the session table.
type Sessions interface {
	// CreateSession stores a new session; ErrExists when the id is taken,
	// ErrConflict when its user is disabled or no longer at
	// s.UserGeneration (a password, roles or disabled change raced the
	// login), in the same statement.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session or ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// Rotate spends the session's current refresh token spentJTI and makes
	// next current, in one compare-and-swap: it fails with ErrConflict when
	// spentJTI is no longer current, the session is revoked or stale, so two
	// concurrent refreshes can never both rotate and a session never
	// outlives its user's change. The pair replaced becomes Previous, and
	// Previous's refresh token PreviousParentJTI, at spent time now.
	Rotate(ctx context.Context, id, spentJTI string, next Rotation, now time.Time) error
	// RevokeSession revokes one session; revoking twice is not an error.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// RevokeUserSessions records as revoked every session of userID that a
	// change of the user has ended — not revoked, not past its cap, and
	// opened under an earlier generation or of a disabled user — except
	// exceptID ("" for none), and returns how many it revoked. The kept
	// session is first brought to the user's current generation: it is
	// kept across the change on purpose. A session opened since the change
	// is left alone, and after no change at all nothing is revoked, so it
	// can be called after every change, and again after a failure.
	RevokeUserSessions(ctx context.Context, userID int64, exceptID string, now time.Time) (int, error)
	// ListSessions returns up to limit (all when limit <= 0) of userID's
	// sessions that are neither revoked nor past their cap at now, newest
	// first (by CreatedAt, then ID), after the cursor (strictly).
	ListSessions(ctx context.Context, userID int64, after SessionCursor, limit int, now time.Time) ([]Session, error)
	// RevokeExcessSessions revokes userID's live sessions (neither revoked
	// nor past their cap at now) beyond the newest max, oldest first,
	// never keepID (the session just opened, which counts among the max),
	// and returns the ids it revoked.
	RevokeExcessSessions(ctx context.Context, userID int64, keepID string, max int, now time.Time) ([]string, error)
	// PruneSessions deletes the sessions whose cap is before before (no
	// token of theirs verifies any more, revoked or not) and returns how
	// many.
	PruneSessions(ctx context.Context, before time.Time) (int, error)
	// StepUpSession records a new proof of the session's user: its
	// AuthTime, ACR and AMR become these; ErrConflict when the session is
	// revoked or stale, ErrNotFound when there is none.
	StepUpSession(ctx context.Context, id string, acr string, amr []string, authTime time.Time) error
}

// SessionCursor is a position in a user's sessions, newest first:
// ordered by CreatedAt descending, then ID. The zero cursor is the start.
type SessionCursor struct {
	CreatedAt time.Time
	ID        string
}

// Revocation is a revoked session, as a service checking tokens needs it.
type Revocation struct {
	SessionID string
	RevokedAt time.Time
	// ExpiresAt is the session's cap: no token of it verifies afterwards, so
	// the revocation can be forgotten then.
	ExpiresAt time.Time
}

// RevocationCursor is a position in the revocation list, ordered by
// (RevokedAt, SessionID). The zero cursor is the start.
type RevocationCursor struct {
	RevokedAt time.Time
	SessionID string
}

// Revocations lists revoked sessions for services that poll them.
type Revocations interface {
	// ListRevocations returns up to limit revoked sessions after the cursor
	// (strictly), ordered by (RevokedAt, SessionID), leaving out sessions
	// whose cap is not after now: their tokens no longer verify anyway.
	ListRevocations(ctx context.Context, after RevocationCursor, now time.Time, limit int) ([]Revocation, error)
}

// ThrottleLimit is what one login-attempt counter allows: the first Free
// failed attempts cost nothing, then each further attempt must wait Base,
// doubled per failure, at most Max, after the last attempt. Attempts in
// flight (reserved, not yet settled) count as failures until settled, so
// that no more are checked at once than Free allows — unless InFlight is
// set: then at most InFlight attempts may be in flight under the key at
// once, and they do not count as failures (a counter that many honest
// clients share, such as one address's).
type ThrottleLimit struct {
	Key      string
	Free     int
	Base     time.Duration
	Max      time.Duration
	InFlight int
}

// Wait is how long an attempt must still wait at now when n failures are
// counted and the last attempt was at last; 0 when it may go ahead.
func (l ThrottleLimit) Wait(n int, last, now time.Time) time.Duration {
	if n < l.Free {
		return 0
	}
	d := l.Base
	for i := l.Free; i < n && d < l.Max; i++ {
		d *= 2
	}
	d = min(d, l.Max)
	if until := last.Add(d); until.After(now) {
		return until.Sub(now)
	}
	return 0
}

// Check is the counter's answer to one more attempt at now, with failures
// counted, inFlight attempts in flight and the last attempt at last: the
// failures' Wait when they alone refuse it; otherwise, when the attempts in
// flight do, InFlightRetry marked InFlight; the zero ThrottleWait when it
// may go ahead.
func (l ThrottleLimit) Check(failures, inFlight int, last, now time.Time) ThrottleWait {
	if w := l.Wait(failures, last, now); w > 0 {
		return ThrottleWait{Wait: w}
	}
	switch {
	case l.InFlight > 0 && inFlight >= l.InFlight,
		l.InFlight <= 0 && l.Wait(failures+inFlight, last, now) > 0:
		return ThrottleWait{Wait: InFlightRetry, InFlight: true}
	}
	return ThrottleWait{}
}

// ThrottleWait is a refused reservation: how long the attempt must wait,
// and whether attempts in flight, not failures, refused it.
type ThrottleWait struct {
	Wait     time.Duration
	InFlight bool
}

// Refused reports whether the attempt must wait.
func (w ThrottleWait) Refused() bool { return w.Wait > 0 }

// Worse returns whichever of w and o refuses for the failures' sake, and
// of two such the longer: what an attempt checked against several
// counters hears.
func (w ThrottleWait) Worse(o ThrottleWait) ThrottleWait {
	switch {
	case !o.Refused():
		return w
	case !w.Refused():
		return o
	case w.InFlight != o.InFlight:
		if w.InFlight {
			return o
		}
		return w
	case o.Wait > w.Wait:
		return o
	}
	return w
}

// InFlightTTL bounds how long an attempt counts as in flight, each on its
// own whatever else its keys do: one whose process died before
// FinishLoginAttempt stops counting then. It outlasts any attempt: at most
// password.MaxWait (10 s) for a hashing slot, the hash, and the store's
// round trips.
const InFlightTTL = 30 * time.Second

// InFlightRetry is the wait a refusal for attempts in flight gives: they
// settle within a hash.
const InFlightRetry = time.Second

// Throttles keeps login-attempt counters, so throttling holds under
// concurrency, survives restarts and is shared by every authd on the store.
// Keys and attempt ids are opaque strings.
type Throttles interface {
	// ReserveLoginAttempt checks the counter of every limit
	// (ThrottleLimit.Check: its failures, and the attempts in flight under
	// it) and, when none refuses, counts the attempt in flight under each
	// key, as attempt, until FinishLoginAttempt or InFlightTTL after now,
	// and makes now each key's last attempt, atomically: of any number of
	// concurrent attempts, no more go ahead than the limits allow. When one
	// refuses it returns the worst refusal (ThrottleWait.Worse) and counts
	// nothing. Counters idle since before since are forgotten first.
	ReserveLoginAttempt(ctx context.Context, attempt string, limits []ThrottleLimit, now, since time.Time) (ThrottleWait, error)
	// FinishLoginAttempt settles an attempt ReserveLoginAttempt let through:
	// it is no longer in flight under any of keys; failed counts a failure
	// against each key; otherwise the counters of clear are forgotten.
	FinishLoginAttempt(ctx context.Context, attempt string, keys []string, failed bool, clear []string, now time.Time) error
}

// SealedKey is a signing key as a shared database keeps it: the public
// half in clear, the private half encrypted (token.KeyEncryptionKey).
type SealedKey struct {
	ID      string
	Created time.Time
	// Activates is when the key starts signing (zero: from its creation).
	Activates time.Time
	Public    []byte
	Sealed    []byte
}

// SigningKeys keeps the signing keys that every instance on a shared
// database signs and verifies with.
type SigningKeys interface {
	// SigningKeys returns every key.
	SigningKeys(ctx context.Context) ([]SealedKey, error)
	// AddSigningKey stores a key; ErrExists when the kid is taken.
	AddSigningKey(ctx context.Context, k SealedKey) error
	// DeleteSigningKey removes a key; removing a missing one is no error.
	DeleteSigningKey(ctx context.Context, id string) error
}

// Store is everything a backend provides.
type Store interface {
	Users
	Clients
	Sessions
	Revocations
	Throttles
	SigningKeys
	SecondFactors
	Ceremonies
	Close() error
}
