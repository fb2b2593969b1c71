package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authd-dev/authd/clock"
	"github.com/authd-dev/authd/dpop"
)

var t0 = time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)

const (
	htu    = "https://api.example.com/shop.v1.Orders/Cancel"
	access = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
)

func newVerifier(cfg dpop.Config) (*dpop.Verifier, *clock.Fake) {
	clk := clock.NewFake(t0)
	cfg.Clock = clk
	return dpop.NewVerifier(cfg), clk
}

func newKey(t testing.TB) *dpop.Key {
	t.Helper()
	k, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func proof(t testing.TB, k *dpop.Key, htm, htu, tok, nonce string, at time.Time) string {
	t.Helper()
	p, err := k.Proof(htm, htu, tok, nonce, at)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rawKey is a key for hand-made proofs: the JWK members of its public
// half, and of its private half.
type rawKey struct {
	alg    string
	signer crypto.Signer
	pub    map[string]any
	priv   map[string]any // pub and d
}

func newRawES256(t testing.TB) rawKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, _ := k.PublicKey.Bytes()
	d, _ := k.Bytes()
	pub := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	priv := map[string]any{"d": b64(d)}
	for n, v := range pub {
		priv[n] = v
	}
	return rawKey{alg: "ES256", signer: k, pub: pub, priv: priv}
}

func newRawEd25519(t testing.TB) rawKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub)}
	return rawKey{alg: "EdDSA", signer: priv, pub: jwk, priv: map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "d": b64(priv.Seed())}}
}

// header is the header of a correct proof by k.
func (k rawKey) header() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.alg, "jwk": k.pub}
}

// claims are the claims of a correct proof for htu with access at t0.
func claims() map[string]any {
	return map[string]any{"jti": "j-1", "htm": "POST", "htu": htu, "iat": t0.Unix(), "ath": dpop.TokenHash(access)}
}

// sign makes a proof of header and claims signed by k with its alg.
func (k rawKey) sign(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	return k.signRaw(t, mustJSON(t, header), mustJSON(t, claims))
}

func (k rawKey) signRaw(t testing.TB, header, claims string) string {
	t.Helper()
	in := b64([]byte(header)) + "." + b64([]byte(claims))
	sig, err := jwt.GetSigningMethod(k.alg).Sign(in, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func with(m map[string]any, kv ...any) map[string]any {
	c := map[string]any{}
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
			continue
		}
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func jwtHS256(signing string, secret []byte) ([]byte, error) {
	return jwt.SigningMethodHS256.Sign(signing, secret)
}
