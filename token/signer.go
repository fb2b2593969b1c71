package token

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Signer signs claims with the current key, stamping authd's issuer and
// audience.
type Signer struct {
	key      SigningKey
	method   jwt.SigningMethod
	issuer   string
	audience Audience
}

// NewSigner returns a Signer for key that stamps iss and aud on every token.
func NewSigner(key SigningKey, issuer string, audience []string) (*Signer, error) {
	method := jwt.GetSigningMethod(key.Algorithm())
	if method == nil || (key.Algorithm() != EdDSA && key.Algorithm() != HS256) {
		return nil, fmt.Errorf("unsupported signing algorithm %q", key.Algorithm())
	}
	return &Signer{key: key, method: method, issuer: issuer, audience: Audience(audience)}, nil
}

// Sign sets iss and aud on c and returns the signed JWT. Signing is
// deterministic for both algorithms, so the same claims give the same token.
func (s *Signer) Sign(c Claims) (string, error) {
	c.Issuer, c.Audience = s.issuer, s.audience
	kid, key := s.key.SigningKey()
	t := jwt.NewWithClaims(s.method, &c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	raw, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return raw, nil
}

// NewID returns a random 128-bit identifier for jti and sid.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}
