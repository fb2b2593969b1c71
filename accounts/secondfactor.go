package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// The TOTP authenticator authd enrols: RFC 6238 as authenticator apps take
// it (SHA-1, 30 s steps, 6 digits), a code accepted one step either side
// of now, and each step's code at most once.
const (
	TOTPPeriod = 30 * time.Second
	TOTPDigits = 6
	TOTPSkew   = 1
	// TOTPIssuer names authd in authenticator apps (the otpauth:// URI's
	// issuer).
	TOTPIssuer = "authd"
	// totpSecretBytes is the secret's length: 160 bits, RFC 4226's
	// recommendation.
	totpSecretBytes = 20
)

// RecoveryCodes is how many recovery codes ConfirmTOTP hands out; each
// is RecoveryCodeLength characters of base32 (80 bits), shown in groups
// of four, and works once.
const (
	RecoveryCodes      = 10
	RecoveryCodeLength = 16
)

// The longest second_factor_token and recovery code CompleteLogin reads,
// in bytes (authd's tokens are 43 characters, its codes 19).
const (
	MaxSecondFactorToken = 128
	MaxRecoveryCode      = 64
)

// ChallengeTTL is how long a login may wait for its second factor after
// its password was checked.
const ChallengeTTL = 5 * time.Minute

// The ways a user proves who they are (RFC 8176), as the amr claim lists
// them.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMulti    = "mfa"
	AMRHardware = "hwk"
	AMRUser     = "user"
)

// Refusals of second factors.
var (
	// ErrInvalidSecondFactor: a wrong, reused or expired code or recovery
	// code, or a second_factor_token that is unknown, spent or expired.
	// One error for all, counted by the login throttle as a wrong password.
	ErrInvalidSecondFactor = wire.NewError(codes.Unauthenticated, wire.ReasonInvalidCredentials, "invalid second factor")
	// ErrNoSecondFactor: the user has no confirmed authenticator to check a
	// code against (StepUp of a user who never enrolled).
	ErrNoSecondFactor = wire.NewError(codes.FailedPrecondition, "", "no second factor enrolled")
	// ErrAlreadyEnrolled: EnrollTOTP or ConfirmTOTP of a user whose
	// authenticator is confirmed already; reset it first.
	ErrAlreadyEnrolled = wire.NewError(codes.FailedPrecondition, "", "a TOTP authenticator is enrolled already: reset it first")
	// ErrNothingToConfirm: ConfirmTOTP without a pending EnrollTOTP.
	ErrNothingToConfirm = wire.NewError(codes.FailedPrecondition, "", "no TOTP enrolment to confirm: call EnrollTOTP first")
)

// Sealer keeps second-factor secrets sealed at rest (keys.KeyEncryptionKey
// on a shared database); each secret is bound to aad, so that a row cannot
// be opened as another user's.
type Sealer interface {
	SealSecret(aad string, secret []byte) ([]byte, error)
	OpenSecret(aad string, sealed []byte) ([]byte, error)
}

// Enrolment is a new, pending TOTP authenticator: its base32 secret and
// the otpauth:// URI that authenticator apps read (as a QR code).
type Enrolment struct {
	Secret string
	URI    string
}

// EnrollTOTP makes a new pending TOTP authenticator for the person name,
// replacing a pending one; ErrAlreadyEnrolled when one is confirmed.
func (m *Manager) EnrollTOTP(ctx context.Context, name string) (Enrolment, error) {
	u, err := m.person(ctx, name)
	if err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: u.Name, Period: uint(TOTPPeriod / time.Second),
		SecretSize: totpSecretBytes, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Rand: rand.Reader,
	})
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := m.seal(u.ID, []byte(key.Secret()))
	if err != nil {
		return Enrolment{}, err
	}
	switch err := m.store.SetTOTP(ctx, u.ID, sealed, m.cfg.Clock.Now()); {
	case errors.Is(err, store.ErrExists):
		return Enrolment{}, ErrAlreadyEnrolled
	case err != nil:
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP activates the person name's pending authenticator with a
// code it made (for a client at addr, throttled as a login), and returns
// RecoveryCodes new recovery codes, shown this once: only their hashes
// are kept.
func (m *Manager) ConfirmTOTP(ctx context.Context, name, code, addr string) ([]string, error) {
	if err := ValidateCode(code); err != nil {
		return nil, err
	}
	u, err := m.person(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := m.store.TOTP(ctx, u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNothingToConfirm
	case err != nil:
		return nil, err
	case f.Confirmed:
		return nil, ErrAlreadyEnrolled
	}
	var step int64
	err = m.throttled(ctx, u.Name, addr, func() error {
		var ok bool
		step, ok, err = m.matchTOTP(f, code)
		if err == nil && !ok {
			err = ErrInvalidSecondFactor
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	codes, hashes := newRecoveryCodes()
	switch err := m.store.ConfirmTOTP(ctx, u.ID, step, hashes, m.cfg.Clock.Now()); {
	case errors.Is(err, store.ErrConflict):
		return nil, ErrAlreadyEnrolled // a concurrent confirmation won
	case err != nil:
		return nil, err
	}
	return codes, nil
}

// Challenge starts the second step of user's login, whose password was
// just checked: the second_factor_token to present with a code (or a
// recovery code) within ChallengeTTL, once.
func (m *Manager) Challenge(ctx context.Context, user store.User) (string, time.Duration, error) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := m.cfg.Clock.Now()
	c := store.Challenge{IDHash: hashOf(tok), UserID: user.ID, Username: user.Name, UserGeneration: user.Generation, CreatedAt: now, ExpiresAt: now.Add(ChallengeTTL)}
	if err := m.store.CreateChallenge(ctx, c); err != nil {
		return "", 0, err
	}
	return tok, ChallengeTTL, nil
}

// SecondFactor is a proof of a second factor: a TOTP code, or one of the
// recovery codes (exactly one of the two).
type SecondFactor struct {
	Code         string
	RecoveryCode string
}

func (f SecondFactor) validate() error {
	switch {
	case (f.Code == "") == (f.RecoveryCode == ""):
		return invalid("give a code or a recovery_code")
	case f.Code != "":
		return ValidateCode(f.Code)
	}
	return validateRecoveryCode(f.RecoveryCode)
}

// CompleteLogin checks proof against the user of the login whose
// challenge tok is (for a client at addr, throttled as a login), spends
// the challenge, and returns the user — at the generation its password
// was checked at, so that a change of the user in between refuses the
// session — and how the user proved who they are (amr).
func (m *Manager) CompleteLogin(ctx context.Context, tok string, proof SecondFactor, addr string) (store.User, []string, error) {
	if err := proof.validate(); err != nil {
		return store.User{}, nil, err
	}
	if tok == "" || len(tok) > MaxSecondFactorToken {
		return store.User{}, nil, invalid("second_factor_token must be 1 to %d bytes", MaxSecondFactorToken)
	}
	now := m.cfg.Clock.Now()
	c, err := m.store.Challenge(ctx, hashOf(tok), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
	}
	if err != nil {
		return store.User{}, nil, err
	}
	u, err := m.person(ctx, c.Username)
	if err != nil || u.ID != c.UserID {
		// The account was deleted, or renamed and its name taken, since
		// the password was checked.
		return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
	}
	amr, err := m.checkSecondFactor(ctx, u, proof, addr)
	if err != nil {
		return store.User{}, nil, err
	}
	// Spent only by a correct proof (a typo can be corrected), and once:
	// of two concurrent correct proofs, one opens a session.
	if _, err := m.store.ConsumeChallenge(ctx, c.IDHash, m.cfg.Clock.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
		}
		return store.User{}, nil, err
	}
	u.Generation = c.UserGeneration
	return u, withMulti(append([]string{AMRPassword}, amr...)), nil
}

// StepUp checks proof for the person name (for a client at addr,
// throttled as a login), whose session's amr so far is prior, and returns
// what it adds to the amr: "otp", and "mfa" when the session then holds
// something the user has and something they know or are (a code after a
// password; not a code after a passkey that did not verify its user,
// which are both things the user has).
func (m *Manager) StepUp(ctx context.Context, name string, proof SecondFactor, addr string, prior []string) ([]string, error) {
	if err := proof.validate(); err != nil {
		return nil, err
	}
	u, err := m.person(ctx, name)
	if err != nil {
		return nil, err
	}
	added, err := m.checkSecondFactor(ctx, u, proof, addr)
	if err != nil {
		return nil, err
	}
	if all := withMulti(append(slices.Clone(prior), added...)); slices.Contains(all, AMRMulti) {
		added = append(added, AMRMulti)
	}
	return added, nil
}

// checkSecondFactor checks proof against u's confirmed authenticator or
// unspent recovery codes, throttled, and spends what it used.
func (m *Manager) checkSecondFactor(ctx context.Context, u store.User, proof SecondFactor, addr string) ([]string, error) {
	f, err := m.store.TOTP(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !f.Confirmed) {
		return nil, ErrNoSecondFactor
	}
	if err != nil {
		return nil, err
	}
	err = m.throttled(ctx, u.Name, addr, func() error {
		now := m.cfg.Clock.Now()
		if proof.RecoveryCode != "" {
			err := m.store.UseRecoveryCode(ctx, u.ID, hashOf(normalizeRecoveryCode(proof.RecoveryCode)), now)
			if errors.Is(err, store.ErrNotFound) {
				return ErrInvalidSecondFactor
			}
			return err
		}
		step, ok, err := m.matchTOTP(f, proof.Code)
		if err != nil {
			return err
		}
		if !ok {
			return ErrInvalidSecondFactor
		}
		// A code is good once: a replay within its window, or a code of a
		// step before the last one used, is refused.
		if err := m.store.UseTOTPStep(ctx, u.ID, step, now); errors.Is(err, store.ErrConflict) {
			return ErrInvalidSecondFactor
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []string{AMROTP}, nil
}

// throttled runs check as a login attempt of name from addr is run: the
// attempt reserved first (refused unchecked when throttled), a failure
// (ErrInvalidSecondFactor, ErrInvalidPasskey) counted, a success clearing the account's
// counters. Code attempts have counters of their own, beside the
// password's, and share the address's.
func (m *Manager) throttled(ctx context.Context, name, addr string, check func() error) error {
	if m.cfg.Unthrottled {
		return check()
	}
	keys := newThrottleKeys(secondFactorPrefix+name, addr)
	attempt := token.NewID()
	refusal, err := m.reserve(ctx, attempt, keys)
	if err != nil {
		return err
	}
	if refusal.Refused() {
		if refusal.InFlight {
			return inFlight(refusal.Wait)
		}
		return throttled(refusal.Wait)
	}
	err = check()
	failed := errors.Is(err, ErrInvalidSecondFactor) || errors.Is(err, ErrInvalidPasskey)
	if serr := m.settle(ctx, attempt, keys, failed, err == nil); serr != nil {
		if failed {
			return fmt.Errorf("counting a failed second factor: %w", serr)
		}
		m.cfg.Logger.WarnContext(ctx, "settling a second-factor attempt failed", "err", serr)
	}
	return err
}

// secondFactorPrefix sets second-factor counters apart from password ones.
const secondFactorPrefix = "2f:"

// matchTOTP returns the step whose code code is, among the steps within
// TOTPSkew of now.
func (m *Manager) matchTOTP(f store.TOTP, code string) (int64, bool, error) {
	secret, err := m.open(f.UserID, f.Secret)
	if err != nil {
		return 0, false, err
	}
	now := m.cfg.Clock.Now()
	current := now.Unix() / int64(TOTPPeriod/time.Second)
	opts := totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	var found int64
	ok := false
	// Every step is computed, whichever matches, so the time taken says
	// nothing about which.
	for step := current - TOTPSkew; step <= current+TOTPSkew; step++ {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*int64(TOTPPeriod/time.Second), 0), opts)
		if err != nil {
			return 0, false, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = step, true
		}
	}
	return found, ok, nil
}

// ResetSecondFactors removes the person name's authenticator, recovery
// codes and passkeys, and returns how many factors were removed.
func (m *Manager) ResetSecondFactors(ctx context.Context, name string) (int, error) {
	u, err := m.person(ctx, name)
	if err != nil {
		return 0, err
	}
	return m.store.DeleteSecondFactors(ctx, u.ID)
}

// RecoveryCodesLeft counts the person name's unspent recovery codes.
func (m *Manager) RecoveryCodesLeft(ctx context.Context, name string) (int, error) {
	u, err := m.person(ctx, name)
	if err != nil {
		return 0, err
	}
	return m.store.RecoveryCodesLeft(ctx, u.ID)
}

// person returns the enabled person (not a service account) called name.
func (m *Manager) person(ctx context.Context, name string) (store.User, error) {
	u, err := m.store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.ClientID != "") {
		return store.User{}, notFound("user %q not found", name)
	}
	if err != nil {
		return store.User{}, err
	}
	return u, nil
}

func (m *Manager) seal(userID int64, secret []byte) ([]byte, error) {
	if m.cfg.Secrets == nil {
		return secret, nil
	}
	return m.cfg.Secrets.SealSecret(secretAAD(userID), secret)
}

func (m *Manager) open(userID int64, sealed []byte) ([]byte, error) {
	if m.cfg.Secrets == nil {
		return sealed, nil
	}
	return m.cfg.Secrets.OpenSecret(secretAAD(userID), sealed)
}

func secretAAD(userID int64) string { return "totp:" + strconv.FormatInt(userID, 10) }

// ValidateCode refuses a TOTP code that is not TOTPDigits digits.
func ValidateCode(code string) error {
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return invalid("code must be %d digits", TOTPDigits)
	}
	return nil
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCodes makes RecoveryCodes codes, and their hashes to keep.
func newRecoveryCodes() (codes []string, hashes [][]byte) {
	for range RecoveryCodes {
		var b [RecoveryCodeLength * 5 / 8]byte
		_, _ = rand.Read(b[:])
		raw := strings.ToLower(recoveryEncoding.EncodeToString(b[:]))
		var groups []string
		for i := 0; i < len(raw); i += 4 {
			groups = append(groups, raw[i:i+4])
		}
		codes = append(codes, strings.Join(groups, "-"))
		hashes = append(hashes, hashOf(raw))
	}
	return codes, hashes
}

// normalizeRecoveryCode drops the dashes and spaces a user may type, and
// the case of ASCII letters: only theirs, since Unicode case mapping would
// let other characters stand for the code's (U+212A KELVIN SIGN lowers to
// "k", found by FuzzLoginSecondFactor).
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, code)
}

func validateRecoveryCode(code string) error {
	n := normalizeRecoveryCode(code)
	if len(code) > MaxRecoveryCode || len(n) != RecoveryCodeLength || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return invalid("recovery_code must be %d letters and digits (dashes and spaces ignored)", RecoveryCodeLength)
	}
	return nil
}

func hashOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
