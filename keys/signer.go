package keys

import (
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/token"
)

// Signer signs claims with the current key, stamping authd's issuer and
// audience.
type Signer struct {
	key      SigningKey
	method   jwt.SigningMethod
	issuer   string
	audience token.Audience
	untyped  bool
}

// NewSigner returns a Signer for key that stamps iss and aud on every token.
func NewSigner(key SigningKey, issuer string, audience []string) (*Signer, error) {
	method := jwt.GetSigningMethod(key.Algorithm())
	if method == nil || (key.Algorithm() != token.EdDSA && key.Algorithm() != token.HS256) {
		return nil, fmt.Errorf("unsupported signing algorithm %q", key.Algorithm())
	}
	return &Signer{key: key, method: method, issuer: issuer, audience: token.Audience(audience)}, nil
}

// Untyped returns a Signer like s that writes the JOSE header typ JWT, as
// authd did before it typed its tokens: for a fleet upgrade, so that
// instances not yet upgraded accept what upgraded ones mint.
func (s *Signer) Untyped() *Signer {
	u := *s
	u.untyped = true
	return &u
}

// Sign sets iss and aud on c and returns the signed JWT. Signing is
// deterministic for both algorithms, so the same claims give the same token.
func (s *Signer) Sign(c token.Claims) (string, error) {
	c.Issuer, c.Audience = s.issuer, s.audience
	kid, key := s.key.SigningKey()
	t := jwt.NewWithClaims(s.method, &c)
	if typ := c.Type.Typ(); typ != "" && !s.untyped {
		t.Header["typ"] = typ // explicit typing, RFC 8725 section 3.11
	}
	if kid != "" {
		t.Header["kid"] = kid
	}
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return raw, nil
}
