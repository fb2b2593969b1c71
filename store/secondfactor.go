package store

import (
	"context"
	"time"
)

// TOTP is a user's time-based one-time-password authenticator (RFC 6238).
type TOTP struct {
	UserID int64
	// Secret is the shared secret as the backend keeps it: sealed with the
	// key-encryption secret on a shared database (as signing keys are),
	// in clear in SQLite's private file.
	Secret []byte
	// Confirmed is set once a code made with Secret has been checked
	// (ConfirmTOTP); until then the authenticator is pending and asks
	// nothing at login.
	Confirmed bool
	// LastStep is the last time step whose code was accepted (a code is
	// accepted once: only a later step passes UseTOTPStep).
	LastStep  int64
	CreatedAt time.Time
}

// Challenge is a login that checked its password and waits for its second
// factor: what its second_factor_token stands for. The token itself is
// never stored, only its SHA-256 (IDHash).
type Challenge struct {
	IDHash []byte
	UserID int64
	// Username is the user's name at the password check.
	Username string
	// UserGeneration is the user's generation at the password check: the
	// session opened when the second factor passes is opened under it, so a
	// change of the user in between refuses it.
	UserGeneration int64
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// Passkey is a WebAuthn credential registered to a user.
type Passkey struct {
	// CredentialID is the authenticator's credential id (unique).
	CredentialID []byte
	UserID       int64
	Name         string
	// Credential is the go-webauthn credential as JSON: public key,
	// attestation, flags, authenticator data.
	Credential []byte
	// SignCount is the authenticator's signature counter after the last
	// accepted assertion (0 for authenticators that keep none).
	SignCount uint32
	CreatedAt time.Time
	LastUsed  time.Time
}

// SecondFactors keeps users' second factors — a TOTP authenticator, its
// recovery codes, passkeys — and the challenges of logins waiting for
// one. Every method that changes a factor is one transaction.
type SecondFactors interface {
	// SetTOTP stores userID's TOTP secret, pending, replacing a pending
	// one; ErrExists when userID has a confirmed one (reset it first),
	// ErrNotFound for an unknown user.
	SetTOTP(ctx context.Context, userID int64, secret []byte, now time.Time) error
	// TOTP returns userID's authenticator, pending or confirmed, or
	// ErrNotFound.
	TOTP(ctx context.Context, userID int64) (TOTP, error)
	// ConfirmTOTP confirms userID's pending authenticator, records step as
	// its last accepted step, and replaces its recovery codes by
	// recoveryHashes, all at once; ErrConflict when there is no pending
	// one (none, or confirmed already).
	ConfirmTOTP(ctx context.Context, userID int64, step int64, recoveryHashes [][]byte, now time.Time) error
	// UseTOTPStep records step as the last accepted step of userID's
	// confirmed authenticator if it is after the last one, in one
	// compare-and-swap; ErrConflict otherwise (a replayed or older code:
	// of concurrent uses of one code, exactly one succeeds), ErrNotFound
	// without a confirmed authenticator.
	UseTOTPStep(ctx context.Context, userID int64, step int64, now time.Time) error
	// UseRecoveryCode spends userID's unspent recovery code whose hash is
	// hash; ErrNotFound when there is none (unknown or spent: of
	// concurrent uses of one code, exactly one succeeds).
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte, now time.Time) error
	// RecoveryCodesLeft counts userID's unspent recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	// DeleteSecondFactors removes userID's TOTP authenticator, recovery
	// codes and passkeys (a reset), and returns how many factors it removed
	// (the authenticator, pending or confirmed, and each passkey count
	// one; the recovery codes none).
	DeleteSecondFactors(ctx context.Context, userID int64) (int, error)

	// AddPasskey registers a passkey; ErrExists when its credential id is
	// taken, ErrNotFound for an unknown user.
	AddPasskey(ctx context.Context, p Passkey) error
	// Passkeys returns userID's passkeys, oldest first.
	Passkeys(ctx context.Context, userID int64) ([]Passkey, error)
	// PasskeyByCredentialID returns the passkey or ErrNotFound.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error)
	// UsePasskey records an accepted assertion: the new signature counter,
	// only if it is above the stored one or both are 0 (a counter that did
	// not move is a cloned authenticator or a replay), in one
	// compare-and-swap; ErrConflict otherwise, ErrNotFound for an unknown
	// credential.
	UsePasskey(ctx context.Context, credentialID []byte, signCount uint32, now time.Time) error
	// DeletePasskey removes one of userID's passkeys; ErrNotFound when it
	// has none with that id.
	DeletePasskey(ctx context.Context, userID int64, credentialID []byte) error

	// CreateChallenge stores a login's challenge; ErrExists when its hash
	// is taken.
	CreateChallenge(ctx context.Context, c Challenge) error
	// Challenge returns the challenge whose id hashes to idHash if it has
	// not expired at now, or ErrNotFound.
	Challenge(ctx context.Context, idHash []byte, now time.Time) (Challenge, error)
	// ConsumeChallenge deletes the challenge if it has not expired at now,
	// returning it; ErrNotFound otherwise (of concurrent consumers of one
	// challenge, exactly one gets it).
	ConsumeChallenge(ctx context.Context, idHash []byte, now time.Time) (Challenge, error)
	// PruneChallenges deletes challenges expired before before and returns
	// how many.
	PruneChallenges(ctx context.Context, before time.Time) (int, error)
}
