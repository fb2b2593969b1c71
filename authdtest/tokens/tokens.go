package tokens

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/token"
)

// Start is the fake clock's starting time.
var Start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// CheapParams make argon2id fast enough for tests.
var CheapParams = password.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// The lifetimes of the tokens an Issuer mints: authd's defaults.
const (
	AccessTTL  = 15 * time.Minute
	RefreshTTL = 24 * time.Hour
)

// Issuer mints and verifies tokens as authd does, on a fake clock.
type Issuer struct {
	// Clock is the time tokens are minted and verified at.
	Clock *clock.Fake
	Keys  *keys.Keyring // nil in HS256 mode
	// Signer signs with Keys (or the HS256 secret).
	Signer *keys.Signer
	// Verifier verifies the Issuer's tokens on Clock: give it to the
	// service under test (guard.New(iss.Verifier, guard.Config{Clock: iss.Clock})).
	Verifier *token.Verifier
}

type options struct {
	hmacSecret []byte
	clock      *clock.Fake
}

// Option configures New.
type Option func(*options)

// WithHS256 signs with the HS256 secret instead of an Ed25519 keyring.
func WithHS256(secret []byte) Option { return func(o *options) { o.hmacSecret = secret } }

// WithClock uses clk instead of a new fake clock at Start, so that two
// Issuers (one of them standing for a forger) share a time.
func WithClock(clk *clock.Fake) Option { return func(o *options) { o.clock = clk } }

// New returns an Issuer with a fake clock at Start and a keyring of one new
// Ed25519 key created at Start (or an HS256 secret, WithHS256). Its tokens
// have iss and aud "authd".
func New(t TB, opts ...Option) *Issuer {
	t.Helper()
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	i := &Issuer{Clock: o.clock}
	if i.Clock == nil {
		i.Clock = clock.NewFake(Start)
	}
	var ks interface {
		token.KeySource
		keys.SigningKey
	}
	var err error
	if o.hmacSecret != nil {
		if ks, err = token.NewHMACKey(o.hmacSecret); err != nil {
			t.Fatal(err)
		}
	} else {
		key, err := keys.NewKey(Start)
		if err != nil {
			t.Fatal(err)
		}
		if i.Keys, err = keys.NewKeyring(key); err != nil {
			t.Fatal(err)
		}
		ks = i.Keys
	}
	if i.Signer, err = keys.NewSigner(ks, token.DefaultIssuer, []string{token.DefaultIssuer}); err != nil {
		t.Fatal(err)
	}
	if i.Verifier, err = token.NewVerifier(ks, token.WithClock(i.Clock)); err != nil {
		t.Fatal(err)
	}
	return i
}

// Claims returns the claims authd mints for a token of type typ of session
// sid, issued now: iat, nbf and auth_time now, exp AccessTTL or RefreshTTL
// later, a new jti, not fresh. Sign adds iss and aud.
func (i *Issuer) Claims(typ token.Type, subject, sid string) token.Claims {
	now := i.Clock.Now()
	ttl := AccessTTL
	if typ == token.Refresh {
		ttl = RefreshTTL
	}
	return token.Claims{
		Subject:   subject,
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        token.NewID(),
		Type:      typ,
		SessionID: sid,
		AuthTime:  jwt.NewNumericDate(now),
	}
}

// Sign signs c with the Issuer's current key.
func (i *Issuer) Sign(t TB, c token.Claims) string {
	t.Helper()
	raw, err := i.Signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A Claim changes the claims of a minted token.
type Claim func(*token.Claims)

// WithRoles puts roles in the token's roles claim, as authd does for a
// user's roles (access tokens only; authd never puts them on refresh
// tokens).
func WithRoles(roles ...string) Claim { return func(c *token.Claims) { c.Roles = roles } }

// WithSecondFactor mints a token whose subject proved who they are with
// a password and a one-time code (amr pwd, otp, mfa; acr aal2).
func WithSecondFactor() Claim {
	return func(c *token.Claims) { c.AMR, c.ACR = []string{"pwd", "otp", "mfa"}, token.ACRSecondFactor }
}

// WithAuthTime sets auth_time, when the subject last proved who they are.
func WithAuthTime(t time.Time) Claim {
	return func(c *token.Claims) { c.AuthTime = jwt.NewNumericDate(t) }
}

// WithScopes puts scopes in the token's scope claim, as authd does for a
// service account's token.
func WithScopes(scopes ...string) Claim {
	return func(c *token.Claims) { c.Scope = strings.Join(scopes, " ") }
}

func (i *Issuer) mint(t TB, c token.Claims, claims []Claim) string {
	t.Helper()
	for _, f := range claims {
		f(&c)
	}
	return i.Sign(t, c)
}

// FreshAccess mints the access token of a login: fresh, valid for AccessTTL.
func (i *Issuer) FreshAccess(t TB, subject, sid string, claims ...Claim) string {
	t.Helper()
	c := i.Claims(token.Access, subject, sid)
	c.Fresh = token.Fresh{Value: true}
	return i.mint(t, c, claims)
}

// Access mints an access token as a refresh or a renewal does: not fresh,
// valid for AccessTTL.
func (i *Issuer) Access(t TB, subject, sid string, claims ...Claim) string {
	t.Helper()
	return i.mint(t, i.Claims(token.Access, subject, sid), claims)
}

// Refresh mints a refresh token valid for RefreshTTL.
func (i *Issuer) Refresh(t TB, subject, sid string, claims ...Claim) string {
	t.Helper()
	return i.mint(t, i.Claims(token.Refresh, subject, sid), claims)
}

// Expired mints a fresh access token issued AccessTTL and a second ago: it
// expired a second ago and nothing else is wrong with it.
func (i *Issuer) Expired(t TB, subject, sid string, claims ...Claim) string {
	t.Helper()
	c := i.Claims(token.Access, subject, sid)
	iat := i.Clock.Now().Add(-AccessTTL - time.Second)
	c.IssuedAt, c.NotBefore, c.AuthTime = jwt.NewNumericDate(iat), jwt.NewNumericDate(iat), jwt.NewNumericDate(iat)
	c.ExpiresAt = jwt.NewNumericDate(iat.Add(AccessTTL))
	c.Fresh = token.Fresh{Value: true}
	return i.mint(t, c, claims)
}

// KeyID returns the kid in raw's header ("" for none), without verifying it.
func KeyID(t TB, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &token.Claims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}
