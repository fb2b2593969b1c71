package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// The signing algorithms authd uses.
const (
	EdDSA = "EdDSA"
	HS256 = "HS256"
)

// MinHMACSecret is the shortest HS256 secret authd accepts (RFC 7518 section 3.2).
const MinHMACSecret = 32

// KeySource resolves the key that verifies a token. Exactly one algorithm is
// allowed per source, so a token can never pick its own.
type KeySource interface {
	Algorithm() string
	// VerificationKey returns the key for kid ("" when the token has none),
	// or an error wrapping ErrUnknownKey.
	VerificationKey(ctx context.Context, kid string) (any, error)
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, used as kid.
func Thumbprint(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 section 3.2).
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// HMACKey is an HS256 secret shared with other services (flask-jwt-extended).
// Its tokens carry no kid.
type HMACKey struct{ secret []byte }

// NewHMACKey returns an HS256 key; the secret must be at least MinHMACSecret bytes.
func NewHMACKey(secret []byte) (*HMACKey, error) {
	if len(secret) < MinHMACSecret {
		return nil, fmt.Errorf("hs256 secret is %d bytes, need at least %d", len(secret), MinHMACSecret)
	}
	return &HMACKey{secret: append([]byte(nil), secret...)}, nil
}

// Algorithm returns HS256.
func (h *HMACKey) Algorithm() string { return HS256 }

// SigningKey returns the secret with no kid.
func (h *HMACKey) SigningKey() (string, any) { return "", h.secret }

// VerificationKey returns the secret for tokens without a kid.
func (h *HMACKey) VerificationKey(_ context.Context, kid string) (any, error) {
	if kid != "" {
		return nil, ErrUnknownKey
	}
	return h.secret, nil
}

// JWK is a public key in RFC 8037 form.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// NewJWK describes an Ed25519 public key.
func NewJWK(pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP", Crv: "Ed25519", Alg: EdDSA, Use: "sig",
		X:   base64.RawURLEncoding.EncodeToString(pub),
		Kid: Thumbprint(pub),
	}
}

// PublicKey checks a JWK and returns its Ed25519 key. The kid must be the
// key's thumbprint, so a JWKS cannot alias one key under another id.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" || (j.Alg != "" && j.Alg != EdDSA) || (j.Use != "" && j.Use != "sig") {
		return nil, fmt.Errorf("jwk %q: not an Ed25519 signing key", j.Kid)
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("jwk %q: bad x", j.Kid)
	}
	pub := ed25519.PublicKey(x)
	if Thumbprint(pub) != j.Kid {
		return nil, fmt.Errorf("jwk %q: kid is not the key's thumbprint", j.Kid)
	}
	return pub, nil
}
