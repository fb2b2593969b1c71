package accounts

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/wire"
)

// RelyingParty is who passkeys are registered with (WebAuthn's relying
// party): the domain its credentials are scoped to and the page origins
// that may use them. Without an ID, passkeys are off.
type RelyingParty struct {
	// ID is the relying party ID: a registrable domain, or a host name
	// such as "localhost" ("auth.example.com", "example.com"). WebAuthn
	// refuses IP addresses. Every origin's host must be it or under it.
	ID string
	// Origins are the origins of the pages allowed to run the ceremonies
	// ("https://app.example.com", "http://localhost:8081").
	Origins []string
	// Name is shown by authenticators beside the account (default
	// "authd").
	Name string
}

// Enabled reports whether passkeys are configured.
func (rp RelyingParty) Enabled() bool { return rp.ID != "" || len(rp.Origins) > 0 }

// Validate reports what is wrong with rp, if anything.
func (rp RelyingParty) Validate() error {
	_, err := rp.webauthn()
	return err
}

func (rp RelyingParty) webauthn() (*webauthn.WebAuthn, error) {
	if rp.ID == "" || len(rp.Origins) == 0 {
		return nil, errors.New("passkeys need both a relying party ID and at least one origin")
	}
	name := rp.Name
	if name == "" {
		name = TOTPIssuer
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: rp.ID, RPDisplayName: name, RPOrigins: slices.Clone(rp.Origins),
		// Ceremonies expire with their stored state, on the Manager's
		// clock; the browser is told the same.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party: %w", err)
	}
	for _, o := range rp.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("webauthn origin %q: want https://host[:port]", o)
		}
		// A browser runs a ceremony only for an RP ID that is the page's
		// host or a registrable suffix of it.
		if host := strings.ToLower(u.Hostname()); host != strings.ToLower(rp.ID) && !strings.HasSuffix(host, "."+strings.ToLower(rp.ID)) {
			return nil, fmt.Errorf("webauthn origin %q is not on the relying party ID %q or under it", o, rp.ID)
		}
	}
	return w, nil
}

// Bounds of the passkey requests, in bytes. A registration answer without
// attestation (authd asks for none) is about 1 KiB, an assertion less.
const (
	MaxCredentialJSON = 8 << 10
	MaxCeremonyToken  = 128
	MaxPasskeyName    = 64
)

// CeremonyTTL is how long a WebAuthn ceremony may wait for its
// authenticator's answer.
const CeremonyTTL = 5 * time.Minute

// The kinds of ceremony (store.Ceremony.Kind).
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
	ceremonyStepUp   = "step-up"
)

// Refusals of passkeys.
var (
	// ErrPasskeysOff: authd has no relying party configured.
	ErrPasskeysOff = wire.NewError(codes.FailedPrecondition, "", "passkeys are not configured on this server (--webauthn-rp-id, --webauthn-origins)")
	// ErrInvalidPasskey: an assertion or a registration that does not
	// check (signature, challenge, origin, relying party, a credential not
	// the user's or removed, a signature counter that did not move), or a
	// ceremony_token that is unknown, spent, expired or not the caller's.
	// Failed assertions are counted by the login throttle as wrong
	// passwords.
	ErrInvalidPasskey = wire.NewError(codes.Unauthenticated, wire.ReasonInvalidCredentials, "invalid passkey")
	// ErrNoPasskey: the user has no passkey to assert with.
	ErrNoPasskey = wire.NewError(codes.FailedPrecondition, "", "no passkey registered")
)

func ceremonyGone() error {
	return ErrInvalidPasskey.Detail("passkey ceremony unknown, spent or expired: begin again", nil, 0)
}

// Ceremony is a WebAuthn ceremony begun: the options for the browser's
// navigator.credentials call, as JSON ({"publicKey": …}), and the token
// that names it to its finish, valid for TTL, once.
type Ceremony struct {
	Options []byte
	Token   string
	TTL     time.Duration
}

// BeginPasskeyRegistration starts registering a passkey for the person
// name, from the session sid: a discoverable credential, user verification
// preferred, no attestation, none of the user's passkeys again.
func (m *Manager) BeginPasskeyRegistration(ctx context.Context, name, sid string) (Ceremony, error) {
	w, err := m.passkeys()
	if err != nil {
		return Ceremony{}, err
	}
	u, err := m.person(ctx, name)
	if err != nil {
		return Ceremony{}, err
	}
	pu, err := m.passkeyUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	creation, sd, err := w.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred}),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return m.beginCeremony(ctx, ceremonyRegister, u.ID, sessionBinding(sid), creation, sd)
}

// FinishPasskeyRegistration checks the authenticator's answer credJSON to
// the registration ceremony tok that the person name began from the
// session sid, and keeps the passkey under keyName. It returns the
// credential id.
func (m *Manager) FinishPasskeyRegistration(ctx context.Context, name, sid, tok string, credJSON []byte, keyName string) ([]byte, error) {
	if keyName == "" {
		keyName = "passkey"
	}
	if err := validatePasskeyName(keyName); err != nil {
		return nil, err
	}
	w, err := m.passkeys()
	if err != nil {
		return nil, err
	}
	if err := validateCeremonyRequest(tok, credJSON); err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credJSON)
	if err != nil {
		return nil, invalid("credential_json: %v", webauthnDetail(err))
	}
	u, sd, err := m.sessionCeremony(ctx, tok, ceremonyRegister, name, sid)
	if err != nil {
		return nil, err
	}
	pu, err := m.passkeyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := w.CreateCredential(pu, sd, parsed)
	if err != nil {
		return nil, ErrInvalidPasskey.Detail("passkey registration refused: "+webauthnDetail(err), nil, 0)
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	p := store.Passkey{CredentialID: cred.ID, UserID: u.ID, Name: keyName, Credential: raw,
		SignCount: cred.Authenticator.SignCount, CreatedAt: m.cfg.Clock.Now()}
	switch err := m.store.AddPasskey(ctx, p); {
	case errors.Is(err, store.ErrExists):
		return nil, exists("this passkey is registered already")
	case errors.Is(err, store.ErrNotFound):
		return nil, notFound("user %q not found", name)
	case err != nil:
		return nil, err
	}
	return cred.ID, nil
}

// BeginPasskeyLogin starts a login with a passkey: with secondFactorToken
// (the challenge of a login whose password was checked) as that login's
// second factor, among its user's passkeys; without, passwordless, with
// any discoverable credential.
func (m *Manager) BeginPasskeyLogin(ctx context.Context, secondFactorToken string) (Ceremony, error) {
	w, err := m.passkeys()
	if err != nil {
		return Ceremony{}, err
	}
	uv := webauthn.WithUserVerification(protocol.VerificationPreferred)
	if secondFactorToken == "" {
		assertion, sd, err := w.BeginDiscoverableLogin(uv)
		if err != nil {
			return Ceremony{}, fmt.Errorf("begin passkey login: %w", err)
		}
		return m.beginCeremony(ctx, ceremonyLogin, 0, nil, assertion, sd)
	}
	c, u, err := m.loginChallenge(ctx, secondFactorToken)
	if err != nil {
		return Ceremony{}, err
	}
	pu, err := m.passkeyUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	if len(pu.creds) == 0 {
		return Ceremony{}, ErrNoPasskey
	}
	assertion, sd, err := w.BeginLogin(pu, uv)
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey login: %w", err)
	}
	return m.beginCeremony(ctx, ceremonyLogin, u.ID, c.IDHash, assertion, sd)
}

// FinishPasskeyLogin checks the assertion credJSON for the login ceremony
// tok (for a client at addr, throttled as a login) and returns the user
// to open a session for and how they proved who they are (amr): after a
// password ["pwd", "hwk", "mfa"]; passwordless, ["hwk", "user", "mfa"]
// with user verification and ["hwk"] without. After a password the user
// is at the generation its password was checked at, as CompleteLogin's.
func (m *Manager) FinishPasskeyLogin(ctx context.Context, tok string, credJSON []byte, addr string) (store.User, []string, error) {
	w, parsed, err := m.assertionOf(tok, credJSON)
	if err != nil {
		return store.User{}, nil, err
	}
	c, sd, err := m.consumeCeremony(ctx, tok, ceremonyLogin, nil)
	if err != nil {
		return store.User{}, nil, err
	}
	if c.UserID == 0 {
		return m.finishPasswordless(ctx, w, sd, parsed, addr)
	}
	challenge, err := m.store.Challenge(ctx, c.Binding, m.cfg.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
	}
	if err != nil {
		return store.User{}, nil, err
	}
	u, err := m.person(ctx, challenge.Username)
	if err != nil || u.ID != challenge.UserID || u.ID != c.UserID {
		return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
	}
	err = m.throttled(ctx, u.Name, addr, func() error {
		_, err := m.assert(ctx, w, u, sd, parsed, false)
		return err
	})
	if err != nil {
		return store.User{}, nil, err
	}
	// Of two concurrent second factors of one login, one opens a session.
	if _, err := m.store.ConsumeChallenge(ctx, challenge.IDHash, m.cfg.Clock.Now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, nil, ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
		}
		return store.User{}, nil, err
	}
	u.Generation = challenge.UserGeneration
	return u, []string{AMRPassword, AMRHardware, AMRMulti}, nil
}

// finishPasswordless checks a discoverable credential's assertion: its
// owner is the credential's, throttled under the owner's name (an unknown
// credential under one name of its own).
func (m *Manager) finishPasswordless(ctx context.Context, w *webauthn.WebAuthn, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData, addr string) (store.User, []string, error) {
	var u store.User
	p, err := m.store.PasskeyByCredentialID(ctx, parsed.RawID)
	switch {
	case err == nil:
		if u, err = m.store.UserByID(ctx, p.UserID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.User{}, nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, nil, err
	}
	counted := u.Name
	if counted == "" {
		counted = unknownPasskey
	}
	var uv bool
	err = m.throttled(ctx, counted, addr, func() error {
		if u.ID == 0 || u.ClientID != "" || u.Disabled {
			return ErrInvalidPasskey
		}
		var err error
		uv, err = m.assert(ctx, w, u, sd, parsed, true)
		return err
	})
	if err != nil {
		return store.User{}, nil, err
	}
	amr := []string{AMRHardware}
	if uv {
		amr = append(amr, AMRUser)
	}
	return u, withMulti(amr), nil
}

// unknownPasskey is the name attempts with an unknown credential are
// throttled under: no new account's, as names have no spaces.
const unknownPasskey = "unknown passkey"

// BeginPasskeyStepUp starts a step-up of the session sid of the person
// name with one of their passkeys; ErrNoPasskey when they have none.
func (m *Manager) BeginPasskeyStepUp(ctx context.Context, name, sid string) (Ceremony, error) {
	w, err := m.passkeys()
	if err != nil {
		return Ceremony{}, err
	}
	u, err := m.person(ctx, name)
	if err != nil {
		return Ceremony{}, err
	}
	pu, err := m.passkeyUser(ctx, u)
	if err != nil {
		return Ceremony{}, err
	}
	if len(pu.creds) == 0 {
		return Ceremony{}, ErrNoPasskey
	}
	assertion, sd, err := w.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey step-up: %w", err)
	}
	return m.beginCeremony(ctx, ceremonyStepUp, u.ID, sessionBinding(sid), assertion, sd)
}

// FinishPasskeyStepUp checks the assertion credJSON for the step-up
// ceremony tok that the person name began from the session sid (for a
// client at addr, throttled as a login), whose amr so far is prior, and
// returns what it adds to the amr: "hwk", "user" with user verification,
// and "mfa" when the session then holds something the user has and
// something they know or are.
func (m *Manager) FinishPasskeyStepUp(ctx context.Context, name, sid, tok string, credJSON []byte, addr string, prior []string) ([]string, error) {
	w, parsed, err := m.assertionOf(tok, credJSON)
	if err != nil {
		return nil, err
	}
	u, sd, err := m.sessionCeremony(ctx, tok, ceremonyStepUp, name, sid)
	if err != nil {
		return nil, err
	}
	var uv bool
	err = m.throttled(ctx, u.Name, addr, func() error {
		var err error
		uv, err = m.assert(ctx, w, u, sd, parsed, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	added := []string{AMRHardware}
	if uv {
		added = append(added, AMRUser)
	}
	if all := withMulti(append(slices.Clone(prior), added...)); slices.Contains(all, AMRMulti) {
		added = append(added, AMRMulti)
	}
	return added, nil
}

// assert checks parsed, an assertion for the ceremony sd, against u's
// passkeys, and records it: the signature counter must move (or stay 0 on
// an authenticator that keeps none), in one compare-and-swap, so that of
// a cloned authenticator's assertions, or of one assertion presented
// twice, at most one passes. It reports whether the authenticator
// verified its user.
func (m *Manager) assert(ctx context.Context, w *webauthn.WebAuthn, u store.User, sd webauthn.SessionData, parsed *protocol.ParsedCredentialAssertionData, discoverable bool) (bool, error) {
	pu, err := m.passkeyUser(ctx, u)
	if err != nil {
		return false, err
	}
	var cred *webauthn.Credential
	if discoverable {
		_, cred, err = w.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, pu.WebAuthnID()) {
				return nil, errors.New("user handle is not the credential owner's")
			}
			return pu, nil
		}, sd, parsed)
	} else {
		cred, err = w.ValidateLogin(pu, sd, parsed)
	}
	if err != nil {
		m.cfg.Logger.InfoContext(ctx, "passkey assertion refused", "user", u.Name, "why", webauthnDetail(err))
		return false, ErrInvalidPasskey
	}
	if cred.Authenticator.CloneWarning {
		m.cfg.Logger.WarnContext(ctx, "passkey signature counter did not move: a cloned authenticator or a replay", "user", u.Name)
		return false, ErrInvalidPasskey
	}
	switch err := m.store.UsePasskey(ctx, cred.ID, cred.Authenticator.SignCount, m.cfg.Clock.Now()); {
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
		// A concurrent assertion moved the counter first, or the passkey
		// was removed since it was read.
		return false, ErrInvalidPasskey
	case err != nil:
		return false, err
	}
	return parsed.Response.AuthenticatorData.Flags.HasUserVerified(), nil
}

// assertionOf reads the answer credJSON to the login or step-up ceremony
// tok, before anything is spent: a malformed one is refused and the
// ceremony can still be finished.
func (m *Manager) assertionOf(tok string, credJSON []byte) (*webauthn.WebAuthn, *protocol.ParsedCredentialAssertionData, error) {
	w, err := m.passkeys()
	if err != nil {
		return nil, nil, err
	}
	if err := validateCeremonyRequest(tok, credJSON); err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credJSON)
	if err != nil {
		return nil, nil, invalid("credential_json: %v", webauthnDetail(err))
	}
	return w, parsed, nil
}

// sessionCeremony spends the ceremony tok of kind that the person name
// began from the session sid, and returns the person and the ceremony's
// state.
func (m *Manager) sessionCeremony(ctx context.Context, tok, kind, name, sid string) (store.User, webauthn.SessionData, error) {
	c, sd, err := m.consumeCeremony(ctx, tok, kind, sessionBinding(sid))
	if err != nil {
		return store.User{}, webauthn.SessionData{}, err
	}
	u, err := m.person(ctx, name)
	if err != nil {
		return store.User{}, webauthn.SessionData{}, err
	}
	if u.ID != c.UserID {
		return store.User{}, webauthn.SessionData{}, ceremonyGone()
	}
	return u, sd, nil
}

// withMulti adds "mfa" to amr when it holds something the user has (a
// hardware key, a one-time code) and something they know or are (a
// password, the authenticator's own verification of its user).
func withMulti(amr []string) []string {
	has := slices.Contains(amr, AMRHardware) || slices.Contains(amr, AMROTP)
	is := slices.Contains(amr, AMRPassword) || slices.Contains(amr, AMRUser)
	if has && is && !slices.Contains(amr, AMRMulti) {
		return append(amr, AMRMulti)
	}
	return amr
}

// beginCeremony keeps the state sd of a ceremony of kind for userID (0:
// not known yet), bound to binding, and returns it with its options.
func (m *Manager) beginCeremony(ctx context.Context, kind string, userID int64, binding []byte, options any, sd *webauthn.SessionData) (Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return Ceremony{}, err
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := m.cfg.Clock.Now()
	c := store.Ceremony{IDHash: hashOf(tok), Kind: kind, UserID: userID, Binding: binding, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(CeremonyTTL)}
	if err := m.store.CreateCeremony(ctx, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Ceremony{}, notFound("user not found")
		}
		return Ceremony{}, err
	}
	return Ceremony{Options: opts, Token: tok, TTL: CeremonyTTL}, nil
}

// consumeCeremony spends the ceremony tok, which must be of kind and,
// with a binding, bound to it, and returns it with its state.
func (m *Manager) consumeCeremony(ctx context.Context, tok, kind string, binding []byte) (store.Ceremony, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	c, err := m.store.ConsumeCeremony(ctx, hashOf(tok), m.cfg.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Ceremony{}, sd, ceremonyGone()
	}
	if err != nil {
		return store.Ceremony{}, sd, err
	}
	if c.Kind != kind || (binding != nil && !bytes.Equal(c.Binding, binding)) {
		return store.Ceremony{}, sd, ceremonyGone()
	}
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return store.Ceremony{}, sd, fmt.Errorf("ceremony state: %w", err)
	}
	return c, sd, nil
}

// loginChallenge returns the live challenge of secondFactorToken and its
// user.
func (m *Manager) loginChallenge(ctx context.Context, tok string) (store.Challenge, store.User, error) {
	if len(tok) > MaxSecondFactorToken {
		return store.Challenge{}, store.User{}, invalid("second_factor_token must be at most %d bytes", MaxSecondFactorToken)
	}
	gone := ErrInvalidSecondFactor.Detail("second factor token unknown, spent or expired: log in again", nil, 0)
	c, err := m.store.Challenge(ctx, hashOf(tok), m.cfg.Clock.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Challenge{}, store.User{}, gone
	}
	if err != nil {
		return store.Challenge{}, store.User{}, err
	}
	u, err := m.person(ctx, c.Username)
	if err != nil || u.ID != c.UserID {
		return store.Challenge{}, store.User{}, gone
	}
	return c, u, nil
}

// passkeys returns the relying party, or ErrPasskeysOff.
func (m *Manager) passkeys() (*webauthn.WebAuthn, error) {
	if m.webauthn == nil {
		return nil, ErrPasskeysOff
	}
	return m.webauthn, nil
}

// passkeyUser is a user as go-webauthn sees one, with their passkeys.
type passkeyUser struct {
	u     store.User
	creds []webauthn.Credential
}

func (m *Manager) passkeyUser(ctx context.Context, u store.User) (passkeyUser, error) {
	keys, err := m.store.Passkeys(ctx, u.ID)
	if err != nil {
		return passkeyUser{}, err
	}
	pu := passkeyUser{u: u}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return passkeyUser{}, fmt.Errorf("passkey %q of %s: %w", k.Name, u.Name, err)
		}
		// The counter column is the truth: the JSON holds the counter at
		// registration.
		c.Authenticator.SignCount = k.SignCount
		pu.creds = append(pu.creds, c)
	}
	return pu, nil
}

// WebAuthnID is the user handle: a digest of the account's id, stable
// across renames, that says nothing about the account's name.
func (p passkeyUser) WebAuthnID() []byte {
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uint64(p.u.ID))
	sum := sha256.Sum256(append([]byte("authd webauthn user handle\x00"), id[:]...))
	return sum[:]
}

func (p passkeyUser) WebAuthnName() string                       { return p.u.Name }
func (p passkeyUser) WebAuthnDisplayName() string                { return p.u.Name }
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// sessionBinding ties a ceremony to the session that began it.
func sessionBinding(sid string) []byte { return hashOf("sid:" + sid) }

func validateCeremonyRequest(tok string, credJSON []byte) error {
	switch {
	case tok == "" || len(tok) > MaxCeremonyToken:
		return invalid("ceremony_token must be 1 to %d bytes", MaxCeremonyToken)
	case len(credJSON) == 0 || len(credJSON) > MaxCredentialJSON:
		return invalid("credential_json must be 1 to %d bytes", MaxCredentialJSON)
	}
	return nil
}

func validatePasskeyName(name string) error {
	if len(name) > MaxPasskeyName || !utf8.ValidString(name) || strings.TrimSpace(name) != name ||
		strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return invalid("name must be 1 to %d bytes of printable UTF-8 without surrounding spaces", MaxPasskeyName)
	}
	return nil
}

// webauthnDetail is what go-webauthn says of a refusal, for logs and for
// the caller's own malformed input: its type and details, never the
// request's bytes.
func webauthnDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.Details != "" {
			return pe.Details
		}
		return pe.Type
	}
	return err.Error()
}
