package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/internal/ttlcache"
	"github.com/authd-dev/authd/token"
)

// Defaults of Config.
const (
	DefaultWindow          = 60 * time.Second
	DefaultReplayCacheSize = 100_000
	DefaultNonceLifetime   = 5 * time.Minute
)

// Bounds on a proof, checked before anything is decoded.
const (
	// MaxLength is the longest proof Verify looks at: an ES256 proof with
	// a 64-byte jti, an htu of 512 bytes and a nonce is under 1 KiB.
	MaxLength = 4 << 10
	// MaxJTILength bounds the jti (a UUID is 36 bytes, 16 random bytes in
	// base64url 22).
	MaxJTILength = 64
)

// retryBusy is the RetryInfo of ErrBusy.
const retryBusy = time.Second

// Config is how a Verifier checks proofs. Its zero value is a window of
// DefaultWindow, a replay cache of DefaultReplayCacheSize and no nonce.
type Config struct {
	// Window is how far a proof's iat may be from now, either way (0:
	// DefaultWindow). A proof is accepted once within it: its jti is
	// remembered until its iat is Window old, after which the proof is
	// stale anyway.
	Window time.Duration
	// ReplayCacheSize bounds the jtis remembered (0:
	// DefaultReplayCacheSize), for proofs that come with a token and, in a
	// cache of the same size of their own, for those that come without one
	// (logins, client tokens). When every one is still within its window,
	// new proofs of that kind are refused with ErrBusy.
	ReplayCacheSize int
	// RequireNonce: a proof must carry a nonce this verifier (or one
	// sharing NonceSecret) issued within NonceLifetime, else
	// NonceRequired with a fresh one (RFC 9449 §8).
	RequireNonce bool
	// NonceSecret is the HMAC key of nonces, at least 32 bytes (nil: 32
	// random bytes, so that only this verifier accepts its nonces).
	// Instances of a fleet sharing it accept each other's nonces.
	NonceSecret []byte
	// NonceLifetime is how long a nonce is accepted (0:
	// DefaultNonceLifetime).
	NonceLifetime time.Duration
	// Clock is the time source (nil: the system clock).
	Clock clock.Clock
}

// Verifier checks the proofs of calls. It is safe for concurrent use; one
// per server, since its replay cache is what makes a proof single-use.
type Verifier struct {
	window        time.Duration
	requireNonce  bool
	nonceKey      []byte
	nonceLifetime time.Duration
	clock         clock.Clock
	// seen remembers the proofs that came with a token; issued, those that
	// came without one (a login's, a client token's). Apart, so that a
	// flood of token-less proofs — anyone can sign them, with throwaway
	// keys, before any credential is checked — fills only its own cache,
	// and the calls of bound sessions never see ErrBusy because of it.
	seen, issued *ttlcache.Cache[[sha256.Size]byte, struct{}]
}

// NewVerifier returns a Verifier enforcing cfg.
func NewVerifier(cfg Config) *Verifier {
	v := &Verifier{window: cfg.Window, requireNonce: cfg.RequireNonce, nonceLifetime: cfg.NonceLifetime, clock: cfg.Clock}
	if v.window <= 0 {
		v.window = DefaultWindow
	}
	if v.nonceLifetime <= 0 {
		v.nonceLifetime = DefaultNonceLifetime
	}
	if v.clock == nil {
		v.clock = clock.System()
	}
	size := cfg.ReplayCacheSize
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	v.seen = ttlcache.New[[sha256.Size]byte, struct{}](size)
	v.issued = ttlcache.New[[sha256.Size]byte, struct{}](size)
	v.nonceKey = append([]byte(nil), cfg.NonceSecret...)
	if len(v.nonceKey) == 0 {
		v.nonceKey = make([]byte, 32)
		_, _ = rand.Read(v.nonceKey) // crypto/rand.Read never fails (Go 1.24+)
	}
	return v
}

// Proof is what a verified proof proves.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the key that signed the proof: a
	// token bound to the key carries it as cnf.jkt.
	JKT string
	// JTI is the proof's unique id.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

// Verify checks the proof a call carries in values (the call's dpop
// metadata values: exactly one, at most MaxLength bytes) for a call of
// method htm to htu, and, when accessToken is not "", its ath against
// accessToken; then records its jti, so that it is accepted once. It
// returns what the proof proves: the caller compares Proof.JKT with the
// token's cnf.jkt.
//
// It refuses a proof that is not a compact JWS with one spelling (each
// JSON member once, none a case variant of a member read), whose header is
// not exactly typ "dpop+jwt", alg ES256 or EdDSA and a public jwk of that
// algorithm (kty EC crv P-256 with x and y, or kty OKP crv Ed25519 with x,
// nothing else: no private member, no kid, jku, x5u, x5c or crit); whose
// signature does not verify under that jwk; whose jti is empty, longer
// than MaxJTILength or seen before within the window; whose htm is not
// htm, or htu not htu (RFC 9449 §4.3: query and fragment ignored, scheme
// and host compared case-insensitively, a default port the same as none);
// whose iat is more than the window away from now; or, with an access
// token, whose ath is not its hash.
func (v *Verifier) Verify(values []string, htm, htu, accessToken string) (Proof, error) {
	if err := CheckForm(values); err != nil {
		return Proof{}, err
	}
	p, c, err := parse(values[0])
	if err != nil {
		return Proof{}, err
	}
	now := v.clock.Now()
	switch {
	case c.HTM != htm:
		return Proof{}, invalid(fmt.Sprintf("htm %q, want %q", c.HTM, htm))
	case !sameHTU(c.HTU, htu):
		return Proof{}, invalid(fmt.Sprintf("htu %q, want %q", c.HTU, htu))
	case p.IssuedAt.Before(now.Add(-v.window)):
		return Proof{}, invalid(fmt.Sprintf("iat is %s old, more than %s", now.Sub(p.IssuedAt).Round(time.Second), v.window))
	case p.IssuedAt.After(now.Add(v.window)):
		return Proof{}, invalid(fmt.Sprintf("iat is %s in the future, more than %s", p.IssuedAt.Sub(now).Round(time.Second), v.window))
	}
	if accessToken != "" {
		if c.ATH == "" {
			return Proof{}, invalid("no ath for the access token")
		}
		if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(TokenHash(accessToken))) != 1 {
			return Proof{}, invalid("ath is not the access token's hash")
		}
	}
	if v.requireNonce && !v.validNonce(c.Nonce, now) {
		return Proof{}, NonceRequired(v.nonce(now))
	}
	// Recorded last: only a proof that checks may take a place in the
	// cache, and a refused one can be corrected and sent again. Keyed by
	// the key and the jti, so that no key can spend another's jti.
	id := sha256.Sum256([]byte(p.JKT + "\x00" + p.JTI))
	seen := v.seen
	if accessToken == "" {
		seen = v.issued
	}
	switch seen.Add(id, struct{}{}, p.IssuedAt.Add(v.window+time.Second), now) {
	case nil:
	case ttlcache.ErrPresent:
		return Proof{}, invalid("jti seen before: a proof is accepted once")
	default:
		return Proof{}, ErrBusy.Detail(ErrBusy.Message+"; retry shortly", nil, retryBusy)
	}
	return p, nil
}

// CheckForm is the part of Verify that needs neither a key nor a clock:
// exactly one value, at most MaxLength bytes, with the form of a compact
// JWS (three base64url segments). It returns the error Verify would, so
// that a transport can refuse such a proof as a call's headers arrive,
// before reading its body (guard.Guard.Precheck).
func CheckForm(values []string) error {
	switch {
	case len(values) == 0, len(values) == 1 && values[0] == "":
		return ErrProofRequired
	case len(values) > 1:
		return invalid(fmt.Sprintf("%d dpop values, want one", len(values)))
	case len(values[0]) > MaxLength:
		return invalid(fmt.Sprintf("longer than %d bytes", MaxLength))
	case token.CheckForm(values[0]) != nil:
		return invalid("not a compact JWS")
	}
	return nil
}

// claims are the members of a proof's payload Verify reads; others are
// ignored (RFC 9449 §4.2 lets a proof carry more).
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   string          `json:"ath,omitempty"`
	Nonce string          `json:"nonce,omitempty"`
}

var claimNames = []string{"jti", "htm", "htu", "iat", "ath", "nonce"}

// header is a proof's JOSE header: these three members, nothing else.
type header struct {
	Typ string          `json:"typ"`
	Alg string          `json:"alg"`
	JWK json.RawMessage `json:"jwk"`
}

var headerNames = []string{"typ", "alg", "jwk"}

// jwkMembers are the members of a proof's jwk, by kty: the public key's,
// nothing else (no d, no kid, no alg that could disagree with the header).
var jwkMembers = map[string][]string{
	"EC":  {"kty", "crv", "x", "y"},
	"OKP": {"kty", "crv", "x"},
}

// parse checks the header and signature of raw, a proof of the form
// CheckForm checks, and returns what it proves and claims; nothing about
// the call is checked here.
func parse(raw string) (Proof, claims, error) {
	h64, rest, _ := strings.Cut(raw, ".")
	p64, s64, _ := strings.Cut(rest, ".")

	hb, err := decodeObject(h64, headerNames, "header")
	if err != nil {
		return Proof{}, claims{}, err
	}
	names, err := topNames(hb)
	if err != nil {
		return Proof{}, claims{}, err
	}
	for _, n := range names {
		if !slices.Contains(headerNames, n) {
			return Proof{}, claims{}, invalid(fmt.Sprintf("header member %q is not allowed", n))
		}
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return Proof{}, claims{}, invalid("header: " + err.Error())
	}
	if h.Typ != Typ {
		return Proof{}, claims{}, invalid(fmt.Sprintf("typ %q, want %q", h.Typ, Typ))
	}
	key, jkt, err := publicKey(h.Alg, h.JWK)
	if err != nil {
		return Proof{}, claims{}, err
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s64)
	if err != nil {
		return Proof{}, claims{}, invalid("signature is not base64url")
	}
	if err := jwt.GetSigningMethod(h.Alg).Verify(h64+"."+p64, sig, key); err != nil {
		return Proof{}, claims{}, invalid("signature does not verify with the jwk")
	}

	pb, err := decodeObject(p64, claimNames, "payload")
	if err != nil {
		return Proof{}, claims{}, err
	}
	var c claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Proof{}, claims{}, invalid("payload: " + err.Error())
	}
	if c.JTI == "" || len(c.JTI) > MaxJTILength {
		return Proof{}, claims{}, invalid(fmt.Sprintf("jti must be 1 to %d bytes", MaxJTILength))
	}
	iat, err := numericDate(c.IAT)
	if err != nil {
		return Proof{}, claims{}, err
	}
	return Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat}, c, nil
}

// decodeObject decodes a segment (strict base64url) holding a JSON object
// with one spelling (token.CheckObject).
func decodeObject(segment string, known []string, what string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(segment)
	if err != nil {
		return nil, invalid(what + " is not base64url")
	}
	if err := token.CheckObject(b, known); err != nil {
		return nil, invalid(what + ": " + err.Error())
	}
	return b, nil
}

// topNames lists the member names of the JSON object b.
func topNames(b []byte) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, invalid(err.Error())
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	return names, nil
}

// publicKey checks that jwk is a public key of alg and returns it, in the
// form golang-jwt verifies with, and its thumbprint.
func publicKey(alg string, raw json.RawMessage) (any, string, error) {
	if len(raw) == 0 {
		return nil, "", invalid("no jwk")
	}
	if err := token.CheckObject(raw, []string{"kty", "crv", "x", "y", "d"}); err != nil {
		return nil, "", invalid("jwk: " + err.Error())
	}
	names, err := topNames(raw)
	if err != nil {
		return nil, "", err
	}
	var jwk publicJWK
	if err := json.Unmarshal(raw, &jwk); err != nil {
		return nil, "", invalid("jwk: " + err.Error())
	}
	allowed, ok := jwkMembers[jwk.Kty]
	if !ok {
		return nil, "", invalid(fmt.Sprintf("jwk kty %q, want EC or OKP", jwk.Kty))
	}
	for _, n := range names {
		switch {
		case isPrivateMember(n):
			return nil, "", invalid(fmt.Sprintf("jwk holds a private key (member %q)", n))
		case !slices.Contains(allowed, n):
			return nil, "", invalid(fmt.Sprintf("jwk member %q is not allowed", n))
		}
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(jwk.X)
	if err != nil {
		return nil, "", invalid("jwk x is not base64url")
	}
	switch {
	case alg == ES256 && jwk.Kty == "EC" && jwk.Crv == "P-256":
		y, err := base64.RawURLEncoding.Strict().DecodeString(jwk.Y)
		if err != nil || len(x) != 32 || len(y) != 32 {
			return nil, "", invalid("jwk x and y must be 32 bytes of base64url")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", invalid("jwk is not a P-256 point")
		}
		return pub, jwk.thumbprint(), nil
	case alg == EdDSA && jwk.Kty == "OKP" && jwk.Crv == "Ed25519":
		if len(x) != ed25519.PublicKeySize || jwk.Y != "" {
			return nil, "", invalid("jwk x must be 32 bytes of base64url")
		}
		return ed25519.PublicKey(x), jwk.thumbprint(), nil
	case alg != ES256 && alg != EdDSA:
		return nil, "", invalid(fmt.Sprintf("alg %q, want ES256 or EdDSA", alg))
	}
	return nil, "", invalid(fmt.Sprintf("alg %s does not match the jwk (kty %q, crv %q)", alg, jwk.Kty, jwk.Crv))
}

// isPrivateMember reports whether n is a private member of an EC, OKP,
// RSA or symmetric JWK (RFC 7518 §6).
func isPrivateMember(n string) bool {
	switch n {
	case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
		return true
	}
	return false
}

// numericDate reads iat: a JSON number of seconds, as RFC 7519 has it (a
// string of digits is no number).
func numericDate(n json.RawMessage) (time.Time, error) {
	if len(n) == 0 || string(n) == "null" {
		return time.Time{}, invalid("no iat")
	}
	if c := n[0]; c != '-' && (c < '0' || c > '9') {
		return time.Time{}, invalid("iat is not a NumericDate")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.Abs(f) > 1e11 {
		return time.Time{}, invalid("iat is not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// sameHTU reports whether a proof's htu names the URI want (RFC 9449
// §4.3): query and fragment ignored, then compared after RFC 3986's
// syntax-based normalisation of scheme, host and default port.
func sameHTU(got, want string) bool {
	g, ok := normalHTU(got)
	if !ok {
		return false
	}
	w, ok := normalHTU(want)
	return ok && g == w
}

func normalHTU(s string) (string, bool) {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	default:
		return "", false
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}
