package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms of proofs: ES256 (P-256, the default, which every JOSE
// library and WebCrypto implement) and EdDSA (Ed25519).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Typ is the typ header of every proof.
const Typ = "dpop+jwt"

// Key is a client's proof-of-possession key: the private key tokens are
// bound to, which signs a proof for every call. It is safe for concurrent
// use.
type Key struct {
	signer crypto.Signer // *ecdsa.PrivateKey or ed25519.PrivateKey
	method jwt.SigningMethod
	jkt    string
	header string // the encoded header segment, the same for every proof
}

// NewKey returns a new ES256 (P-256) key.
func NewKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newKey(priv)
}

// NewEd25519Key returns a new EdDSA (Ed25519) key.
func NewEd25519Key() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return newKey(priv)
}

// ParseKey reads a key from the PKCS#8 PEM MarshalPEM writes (a client's
// token store keeps it so): a P-256 ECDSA or an Ed25519 private key.
func ParseKey(pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("dpop: no PRIVATE KEY PEM block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("dpop: ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		return newKey(k)
	case ed25519.PrivateKey:
		return newKey(k)
	}
	return nil, fmt.Errorf("dpop: a %T is neither a P-256 nor an Ed25519 key", priv)
}

// MarshalPEM returns the private key as PKCS#8 PEM, for ParseKey.
func (k *Key) MarshalPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newKey(signer crypto.Signer) (*Key, error) {
	k := &Key{signer: signer}
	var jwk publicJWK
	switch priv := signer.(type) {
	case *ecdsa.PrivateKey:
		point, err := priv.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, fmt.Errorf("dpop: %w", err)
		}
		k.method = jwt.SigningMethodES256
		jwk = publicJWK{Kty: "EC", Crv: "P-256", X: b64(point[1:33]), Y: b64(point[33:])}
	case ed25519.PrivateKey:
		k.method = jwt.SigningMethodEdDSA
		jwk = publicJWK{Kty: "OKP", Crv: "Ed25519", X: b64(priv.Public().(ed25519.PublicKey))}
	default:
		return nil, fmt.Errorf("dpop: unsupported key %T", signer)
	}
	k.jkt = jwk.thumbprint()
	header, err := json.Marshal(struct {
		Typ string    `json:"typ"`
		Alg string    `json:"alg"`
		JWK publicJWK `json:"jwk"`
	}{Typ, k.method.Alg(), jwk})
	if err != nil {
		return nil, err
	}
	k.header = b64(header)
	return k, nil
}

// Algorithm returns the key's alg: ES256 or EdDSA.
func (k *Key) Algorithm() string { return k.method.Alg() }

// Thumbprint returns the key's RFC 7638 JWK SHA-256 thumbprint, base64url:
// the cnf.jkt of the tokens bound to it.
func (k *Key) Thumbprint() string { return k.jkt }

// Proof signs a proof for one call: header typ dpop+jwt, the key's alg and
// public jwk; claims jti (16 random bytes), htm, htu, iat (now), ath (the
// base64url SHA-256 of accessToken) when accessToken is not "", and nonce
// when it is not "" (a server's dpop-nonce). Sign a new proof for every
// call: a verifier accepts each once.
func (k *Key) Proof(htm, htu, accessToken, nonce string, now time.Time) (string, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	c := claims{JTI: b64(id[:]), HTM: htm, HTU: htu, IAT: json.RawMessage(strconv.FormatInt(now.Unix(), 10)), Nonce: nonce}
	if accessToken != "" {
		c.ATH = TokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := k.header + "." + b64(payload)
	sig, err := k.method.Sign(signing, k.signer)
	if err != nil {
		return "", fmt.Errorf("dpop: sign: %w", err)
	}
	return signing + "." + b64(sig), nil
}

// TokenHash is the ath of a proof sent with accessToken: the base64url
// SHA-256 of its ASCII bytes (RFC 9449 §4.2).
func TokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return b64(sum[:])
}

// HTU is the htu of a gRPC call: scheme ("https" over TLS, "http"
// otherwise), the authority the call is addressed to (its :authority, as
// "host" or "host:port") and its full method, "/pkg.Service/Method".
func HTU(scheme, authority, fullMethod string) string {
	return scheme + "://" + authority + fullMethod
}

// publicJWK is the public key of a proof, with the members of its RFC 7638
// thumbprint only, in their lexicographic order.
type publicJWK struct {
	Crv string `json:"crv"`
	Kty string `json:"kty"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
}

// thumbprint is the RFC 7638 SHA-256 thumbprint: the required members in
// lexicographic order, no white space (which json.Marshal of publicJWK
// writes; its strings are base64url and need no escaping).
func (j publicJWK) thumbprint() string {
	b, _ := json.Marshal(j) // strings only: cannot fail
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
