package token

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Type is the "type" claim: which kind of token this is.
type Type string

// The two token types, named as flask-jwt-extended names them.
const (
	Access  Type = "access"
	Refresh Type = "refresh"
)

// The JOSE typ header of each type (RFC 8725 section 3.11, explicit
// typing): access tokens as RFC 9068 types them, so that a stock verifier
// of access tokens refuses anything else; refresh tokens with a typ of
// their own, which no such verifier accepts.
const (
	AccessTyp  = "at+jwt"
	RefreshTyp = "refresh+jwt"
)

// Typ returns the JOSE typ header of tokens of type t: AccessTyp,
// RefreshTyp, or "" for a type authd does not mint.
func (t Type) Typ() string {
	switch t {
	case Access:
		return AccessTyp
	case Refresh:
		return RefreshTyp
	}
	return ""
}

// Claims are the claims of an authd token, compatible with flask-jwt-extended
// (sub, type, fresh, jti, iat, nbf, exp) plus iss, aud, sid and auth_time.
type Claims struct {
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub"`
	Audience  Audience         `json:"aud,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
	Type      Type             `json:"type"`
	Fresh     Fresh            `json:"fresh"`
	// SessionID is the session (refresh-token family) the token belongs to.
	// Tokens minted elsewhere may have none.
	SessionID string `json:"sid,omitempty"`
	// AuthTime is when the user last typed a password. Tokens minted
	// elsewhere may have none.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	// Roles are the subject's roles (a JSON array), when it has any.
	Roles []string `json:"roles,omitempty"`
	// Scope is the scopes granted to the token, space-separated as RFC 8693
	// and RFC 9068 write them; see Scopes.
	Scope string `json:"scope,omitempty"`
	// AMR is how the subject proved who they are (RFC 8176 values: "pwd",
	// "otp", "mfa" when two factors were used, "hwk" and "user" for a
	// passkey), and ACR the level that adds up to (ACRPassword or
	// ACRSecondFactor). Tokens minted elsewhere may have neither.
	AMR []string `json:"amr,omitempty"`
	ACR string   `json:"acr,omitempty"`
	// Confirmation is the cnf claim (RFC 7800): what the holder of a bound
	// token must prove to use it; nil for a bearer token.
	Confirmation *Confirmation `json:"cnf,omitempty"`
	// Extra claims are written into the token after the ones above, except
	// any whose name is one of theirs (RegisteredClaim); they are not read
	// back by Verify.
	Extra map[string]any `json:"-"`
}

// registered are the names of the claims Claims has fields for.
var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "type", "fresh", "sid", "auth_time", "roles", "scope", "amr", "acr", "cnf", "csrf"}

// The authentication levels of the acr claim, after NIST SP 800-63B's
// authenticator assurance levels: one factor (a password), or two (a
// password and a one-time code, or a passkey that verified its user).
const (
	ACRPassword     = "aal1"
	ACRSecondFactor = "aal2"
)

// SecondFactor reports whether the token shows that its subject proved
// who they are with a second factor (acr ACRSecondFactor).
func (c *Claims) SecondFactor() bool { return c.ACR == ACRSecondFactor }

// RegisteredClaim reports whether name is a claim authd sets or checks
// itself (or flask-jwt-extended's csrf), in any case (Verify refuses case
// variants of them), which Extra cannot set.
func RegisteredClaim(name string) bool {
	return slices.ContainsFunc(registered, func(r string) bool { return strings.EqualFold(r, name) })
}

// MarshalJSON writes the claims, then the Extra ones that are not
// registered, in name order.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // without this method
	base, err := json.Marshal(plain(c))
	if err != nil || len(c.Extra) == 0 {
		return base, err
	}
	names := make([]string, 0, len(c.Extra))
	for name := range c.Extra {
		if !RegisteredClaim(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := base[:len(base)-1] // without the closing brace
	for _, name := range names {
		k, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(c.Extra[name])
		if err != nil {
			return nil, fmt.Errorf("extra claim %q: %w", name, err)
		}
		out = append(append(append(append(out, ','), k...), ':'), v...)
	}
	return append(out, '}'), nil
}

// Names reports whether c can be a token of the account subject, whose
// roles are roles and who was granted scopes: the same subject, for an
// access token the same roles (as a set), and scopes among those granted.
// A token minted with a stolen key and the sid of the forger's own session
// fails it (session.Engine and revocation.Poller both ask it).
func (c *Claims) Names(subject string, roles, scopes []string) bool {
	if c.Subject != subject {
		return false
	}
	if c.Type == Access && !sameSet(c.Roles, roles) {
		return false
	}
	for _, s := range c.Scopes() {
		if !slices.Contains(scopes, s) {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// HasRole reports whether the token carries role.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// Scopes returns the scopes of the scope claim.
func (c *Claims) Scopes() []string {
	if c.Scope == "" {
		return nil
	}
	return strings.Split(c.Scope, " ")
}

// HasScope reports whether the token was granted scope.
func (c *Claims) HasScope(scope string) bool {
	for s := range strings.SplitSeq(c.Scope, " ") {
		if s == scope && s != "" {
			return true
		}
	}
	return false
}

// Limits on role and scope names (see ValidateNames).
const (
	MaxNameLength = 64
	MaxNames      = 32
)

// ValidateNames reports what is wrong with a set of role or scope names, if
// anything: at most MaxNames names, each 1 to MaxNameLength bytes of
// [a-z0-9:._-], none repeated.
func ValidateNames(names []string) error {
	if len(names) > MaxNames {
		return fmt.Errorf("%d names, at most %d allowed", len(names), MaxNames)
	}
	for i, n := range names {
		if err := validName(n); err != nil {
			return err
		}
		if slices.Contains(names[:i], n) {
			return fmt.Errorf("name %q appears twice", n)
		}
	}
	return nil
}

func validName(n string) error {
	if n == "" || len(n) > MaxNameLength {
		return fmt.Errorf("name %q: want 1 to %d bytes", n, MaxNameLength)
	}
	for i := 0; i < len(n); i++ {
		switch b := n[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == ':', b == '.', b == '_', b == '-':
		default:
			return fmt.Errorf("name %q: only a-z, 0-9 and :._- are allowed", n)
		}
	}
	return nil
}

// UnmarshalJSON decodes the claims as encoding/json would, but refuses a
// NumericDate written as a string ("exp":"1790000000"), which golang-jwt
// accepts and RFC 7519 does not. Verify refuses duplicate members and case
// variants of these names before decoding (see checkMembers).
func (c *Claims) UnmarshalJSON(data []byte) error {
	var dates struct {
		Exp      json.RawMessage `json:"exp"`
		Nbf      json.RawMessage `json:"nbf"`
		Iat      json.RawMessage `json:"iat"`
		AuthTime json.RawMessage `json:"auth_time"`
	}
	if err := json.Unmarshal(data, &dates); err != nil {
		return err
	}
	for _, d := range [...]json.RawMessage{dates.Exp, dates.Nbf, dates.Iat, dates.AuthTime} {
		if d = bytes.TrimSpace(d); len(d) > 0 && d[0] == '"' {
			return errStringDate
		}
	}
	type plain Claims // without this method
	return json.Unmarshal(data, (*plain)(c))
}

var errStringDate = fmt.Errorf("%w: a NumericDate claim is a string", ErrInvalid)

// FreshAt reports whether the token counts as fresh at now.
func (c *Claims) FreshAt(now time.Time) bool {
	if c.Fresh.Until.IsZero() {
		return c.Fresh.Value
	}
	return now.Before(c.Fresh.Until)
}

// Expiry returns exp as a time, or the zero time when there is none.
func (c *Claims) Expiry() time.Time { return timeOf(c.ExpiresAt) }

// IssuedTime returns iat as a time, or the zero time when there is none.
func (c *Claims) IssuedTime() time.Time { return timeOf(c.IssuedAt) }

// AuthenticatedAt returns auth_time as a time, or the zero time when there is none.
func (c *Claims) AuthenticatedAt() time.Time { return timeOf(c.AuthTime) }

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// The jwt.Claims interface, so golang-jwt can validate the registered claims.

func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *Claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *Claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *Claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings(c.Audience), nil }

// Validate is called by golang-jwt after the registered claims are checked:
// the claims authd itself depends on must be present and well formed.
func (c *Claims) Validate() error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: no sub claim", ErrInvalid)
	case c.Type != Access && c.Type != Refresh:
		return fmt.Errorf("%w: type claim is %q", ErrInvalid, c.Type)
	}
	if err := ValidateNames(c.Roles); err != nil {
		return fmt.Errorf("%w: roles claim: %v", ErrInvalid, err)
	}
	if c.Scope != "" {
		if err := ValidateNames(c.Scopes()); err != nil {
			return fmt.Errorf("%w: scope claim: %v", ErrInvalid, err)
		}
	}
	return nil
}

// Audience is the "aud" claim. It reads a string or an array of strings and
// writes a single audience as a plain string (RFC 7519 section 4.1.3).
type Audience []string

// MarshalJSON writes one audience as a string, several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(data []byte) error {
	var cs jwt.ClaimStrings
	if err := cs.UnmarshalJSON(data); err != nil {
		return err
	}
	*a = Audience(cs)
	return nil
}

// Fresh is the "fresh" claim: a bool, or, as flask-jwt-extended may write it,
// a NumericDate until which the token counts as fresh.
type Fresh struct {
	Value bool
	// Until is set when the claim was a NumericDate.
	Until time.Time
}

// MarshalJSON writes a bool, or a NumericDate when Until is set.
func (f Fresh) MarshalJSON() ([]byte, error) {
	if !f.Until.IsZero() {
		return jwt.NewNumericDate(f.Until).MarshalJSON()
	}
	return json.Marshal(f.Value)
}

var errFreshType = errors.New("fresh claim is neither a bool nor a number")

// UnmarshalJSON reads a bool or a number.
func (f *Fresh) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("true")):
		*f = Fresh{Value: true}
	case bytes.Equal(data, []byte("false")), bytes.Equal(data, []byte("null")):
		*f = Fresh{}
	default:
		var d jwt.NumericDate
		if len(data) == 0 || data[0] == '"' {
			return errFreshType
		}
		if err := d.UnmarshalJSON(data); err != nil {
			return errFreshType
		}
		*f = Fresh{Until: d.Time}
	}
	return nil
}

// Confirmation is the cnf claim of a bound token (RFC 7800): the key or
// certificate its holder must prove to hold on every call.
type Confirmation struct {
	// JWKThumbprint is jkt, the RFC 7638 thumbprint of a DPoP key (RFC 9449).
	JWKThumbprint string `json:"jkt,omitempty"`
	// CertificateThumbprint is x5t#S256, the base64url SHA-256 of a client
	// certificate (RFC 8705).
	CertificateThumbprint string `json:"x5t#S256,omitempty"`
	// Other names the confirmation members authd does not check (jwk,
	// kid, …): a token bound by them is refused.
	Other []string `json:"-"`
}

var confirmationNames = []string{"jkt", "x5t#S256"}

// GetJWKThumbprint is c's jkt, "" for a nil c.
func (c *Confirmation) GetJWKThumbprint() string {
	if c == nil {
		return ""
	}
	return c.JWKThumbprint
}

// GetCertificateThumbprint is c's x5t#S256, "" for a nil c.
func (c *Confirmation) GetCertificateThumbprint() string {
	if c == nil {
		return ""
	}
	return c.CertificateThumbprint
}

// UnmarshalJSON reads a cnf object with one spelling per member, as the
// payload's own members are read: a repeated member or a case variant of
// jkt or x5t#S256 is refused.
func (c *Confirmation) UnmarshalJSON(data []byte) error {
	names, err := memberNames(data)
	if err != nil {
		return fmt.Errorf("%w: cnf: %v", ErrMalformed, err)
	}
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			return fmt.Errorf("%w: cnf member %q appears twice", ErrMalformed, name)
		}
		if !slices.Contains(confirmationNames, name) &&
			slices.ContainsFunc(confirmationNames, func(k string) bool { return strings.EqualFold(k, name) }) {
			return fmt.Errorf("%w: cnf member %q is a case variant", ErrMalformed, name)
		}
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	*c = Confirmation{}
	for _, name := range names {
		var dst *string
		switch name {
		case "jkt":
			dst = &c.JWKThumbprint
		case "x5t#S256":
			dst = &c.CertificateThumbprint
		default:
			c.Other = append(c.Other, name)
			continue
		}
		if err := json.Unmarshal(members[name], dst); err != nil || *dst == "" {
			return fmt.Errorf("%w: cnf member %q is not a non-empty string", ErrInvalid, name)
		}
	}
	return nil
}

// CertificateThumbprint is x5t#S256 of cert (RFC 8705 §3.1): the
// base64url SHA-256 of its DER, what a token bound to cert carries in cnf.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
