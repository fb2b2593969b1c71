package store

import (
	"context"
	"time"
)

// Ceremony is a WebAuthn ceremony that was begun and not yet finished:
// what its ceremony_token stands for. The token itself is never stored,
// only its SHA-256 (IDHash). A ceremony is finished once: consuming it
// removes it, whether the assertion or attestation then checks or not.
type Ceremony struct {
	IDHash []byte
	// Kind says which ceremony it is ("register", "login", "step-up"), so
	// that one kind's token cannot finish another.
	Kind string
	// UserID is the user the ceremony is for, or 0 when the user is not
	// known until the authenticator answers (a passwordless login).
	UserID int64
	// Binding is what the ceremony belongs to, as its caller digests it:
	// the session that began a registration or a step-up, the
	// second_factor_token of a login that checked its password. Empty when
	// it belongs to nothing (a passwordless login).
	Binding []byte
	// Data is the ceremony's state (go-webauthn's SessionData, as JSON):
	// the challenge, the credentials allowed, user verification asked.
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Ceremonies keeps WebAuthn ceremonies between their two calls, so that
// any instance of a fleet can finish a ceremony another began, and each
// ceremony is finished at most once.
type Ceremonies interface {
	// CreateCeremony stores a ceremony; ErrExists when its hash is taken,
	// ErrNotFound when its UserID is not 0 and no such user exists.
	CreateCeremony(ctx context.Context, c Ceremony) error
	// ConsumeCeremony deletes the ceremony whose id hashes to idHash if it
	// has not expired at now, returning it; ErrNotFound otherwise (of
	// concurrent consumers of one ceremony, exactly one gets it).
	ConsumeCeremony(ctx context.Context, idHash []byte, now time.Time) (Ceremony, error)
	// PruneCeremonies deletes ceremonies expired before before and returns
	// how many.
	PruneCeremonies(ctx context.Context, before time.Time) (int, error)
}
