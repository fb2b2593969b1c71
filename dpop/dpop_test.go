package dpop_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/wire"
)

func TestVerify_AcceptsProofsOfBothAlgorithms(t *testing.T) {
	for _, alg := range []string{dpop.ES256, dpop.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			k := newKey(t)
			if alg == dpop.EdDSA {
				var err error
				if k, err = dpop.NewEd25519Key(); err != nil {
					t.Fatal(err)
				}
			}
			if k.Algorithm() != alg {
				t.Fatalf("Algorithm() = %s", k.Algorithm())
			}
			v, _ := newVerifier(dpop.Config{})
			p, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", t0)}, "POST", htu, access)
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != k.Thumbprint() || p.JTI == "" || !p.IssuedAt.Equal(t0) {
				t.Fatalf("proof %+v, key %s", p, k.Thumbprint())
			}
			// Without a token (a login), no ath is needed.
			if _, err := v.Verify([]string{proof(t, k, "POST", htu, "", "", t0)}, "POST", htu, ""); err != nil {
				t.Fatalf("token-less proof: %v", err)
			}
		})
	}
}

func TestKey_PEMRoundTripKeepsTheKey(t *testing.T) {
	ed, err := dpop.NewEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []*dpop.Key{newKey(t), ed} {
		pemBytes, err := k.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		back, err := dpop.ParseKey(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		if back.Thumbprint() != k.Thumbprint() || back.Algorithm() != k.Algorithm() {
			t.Fatalf("%s: thumbprint %s after the round trip, %s before", k.Algorithm(), back.Thumbprint(), k.Thumbprint())
		}
		v, _ := newVerifier(dpop.Config{})
		p, err := v.Verify([]string{proof(t, back, "POST", htu, access, "", t0)}, "POST", htu, access)
		if err != nil || p.JKT != k.Thumbprint() {
			t.Fatalf("proof of the parsed key: %+v, %v", p, err)
		}
	}
	for _, bad := range []string{"", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := dpop.ParseKey([]byte(bad)); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

// TestVerify_Refusals is every way a proof is refused, each said with the
// reason a client branches on.
func TestVerify_Refusals(t *testing.T) {
	es, ed := newRawES256(t), newRawEd25519(t)
	other := newRawES256(t)
	good := es.sign(t, es.header(), claims())
	parts := strings.Split(good, ".")
	big := es.sign(t, es.header(), with(claims(), "pad", strings.Repeat("x", dpop.MaxLength)))
	tests := []struct {
		name   string
		values []string
		want   error
		says   string
	}{
		{"no dpop metadata", nil, dpop.ErrProofRequired, ""},
		{"an empty value", []string{""}, dpop.ErrProofRequired, ""},
		{"two values", []string{good, good}, dpop.ErrProofInvalid, "2 dpop values"},
		{"oversized", []string{big}, dpop.ErrProofInvalid, "longer than"},
		{"not a JWS", []string{"not.a proof"}, dpop.ErrProofInvalid, "compact"},
		{"a line break in a segment", []string{parts[0][:10] + "\n" + parts[0][10:] + "." + parts[1] + "." + parts[2]}, dpop.ErrProofInvalid, "compact"},
		{"alg none", []string{b64([]byte(mustJSON(t, with(es.header(), "alg", "none")))) + "." + parts[1] + "."}, dpop.ErrProofInvalid, "compact"},
		{"alg none with a signature", []string{b64([]byte(mustJSON(t, with(es.header(), "alg", "none")))) + "." + parts[1] + "." + parts[2]}, dpop.ErrProofInvalid, `alg "none"`},
		{"HS256", []string{hs256(t, with(es.header(), "alg", "HS256"), claims())}, dpop.ErrProofInvalid, `alg "HS256"`},
		{"RS256", []string{b64([]byte(mustJSON(t, with(es.header(), "alg", "RS256")))) + "." + parts[1] + "." + parts[2]}, dpop.ErrProofInvalid, `alg "RS256"`},
		{"ES256 with an Ed25519 jwk", []string{ed.sign(t, with(ed.header(), "alg", "ES256"), claims())}, dpop.ErrProofInvalid, "does not match the jwk"},
		{"EdDSA with a P-256 jwk", []string{es.sign(t, with(es.header(), "alg", "EdDSA"), claims())}, dpop.ErrProofInvalid, "does not match the jwk"},
		{"another key's signature", []string{es.sign(t, with(es.header(), "jwk", other.pub), claims())}, dpop.ErrProofInvalid, "signature"},
		{"a private EC key in the jwk", []string{es.sign(t, with(es.header(), "jwk", es.priv), claims())}, dpop.ErrProofInvalid, "private key"},
		{"a private Ed25519 key in the jwk", []string{ed.sign(t, with(ed.header(), "jwk", ed.priv), claims())}, dpop.ErrProofInvalid, "private key"},
		{"a symmetric jwk", []string{es.sign(t, with(es.header(), "jwk", map[string]any{"kty": "oct", "k": "c2VjcmV0"}), claims())}, dpop.ErrProofInvalid, `kty "oct"`},
		{"a kid in the jwk", []string{es.sign(t, with(es.header(), "jwk", with(es.pub, "kid", "k1")), claims())}, dpop.ErrProofInvalid, `member "kid"`},
		{"no jwk", []string{es.sign(t, with(es.header(), "jwk", nil), claims())}, dpop.ErrProofInvalid, "no jwk"},
		{"a kid header", []string{es.sign(t, with(es.header(), "kid", "k1"), claims())}, dpop.ErrProofInvalid, `"kid" is not allowed`},
		{"a jku header", []string{es.sign(t, with(es.header(), "jku", "https://evil.example/jwks"), claims())}, dpop.ErrProofInvalid, `"jku" is not allowed`},
		{"an x5c header", []string{es.sign(t, with(es.header(), "x5c", []string{"AAAA"}), claims())}, dpop.ErrProofInvalid, `"x5c" is not allowed`},
		{"a crit header", []string{es.sign(t, with(es.header(), "crit", []string{"exp"}), claims())}, dpop.ErrProofInvalid, `"crit" is not allowed`},
		{"typ JWT", []string{es.sign(t, with(es.header(), "typ", "JWT"), claims())}, dpop.ErrProofInvalid, `typ "JWT"`},
		{"no typ", []string{es.sign(t, with(es.header(), "typ", nil), claims())}, dpop.ErrProofInvalid, `typ ""`},
		{"a header member twice", []string{es.signRaw(t, `{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":`+mustJSON(t, es.pub)+`}`, mustJSON(t, claims()))}, dpop.ErrProofInvalid, "twice"},
		{"a claim in another case", []string{es.sign(t, es.header(), with(claims(), "HTU", "https://evil.example/x"))}, dpop.ErrProofInvalid, "case variant"},
		{"a claim twice", []string{es.signRaw(t, mustJSON(t, es.header()), `{"jti":"a","jti":"b","htm":"POST","htu":"`+htu+`","iat":1796547600}`)}, dpop.ErrProofInvalid, "twice"},
		{"a payload that is not UTF-8", []string{es.signRaw(t, mustJSON(t, es.header()), "{\"jti\":\"\xff\",\"htm\":\"POST\",\"htu\":\""+htu+"\",\"iat\":1796547600}")}, dpop.ErrProofInvalid, "UTF-8"},
		{"no jti", []string{es.sign(t, es.header(), with(claims(), "jti", nil))}, dpop.ErrProofInvalid, "jti"},
		{"a jti too long", []string{es.sign(t, es.header(), with(claims(), "jti", strings.Repeat("j", dpop.MaxJTILength+1)))}, dpop.ErrProofInvalid, "jti"},
		{"no iat", []string{es.sign(t, es.header(), with(claims(), "iat", nil))}, dpop.ErrProofInvalid, "no iat"},
		{"iat a string", []string{es.sign(t, es.header(), with(claims(), "iat", "1796547600"))}, dpop.ErrProofInvalid, "NumericDate"},
		{"stale", []string{es.sign(t, es.header(), with(claims(), "iat", t0.Add(-61*time.Second).Unix()))}, dpop.ErrProofInvalid, "old"},
		{"in the future", []string{es.sign(t, es.header(), with(claims(), "iat", t0.Add(61*time.Second).Unix()))}, dpop.ErrProofInvalid, "future"},
		{"wrong method (htm GET)", []string{es.sign(t, es.header(), with(claims(), "htm", "GET"))}, dpop.ErrProofInvalid, "htm"},
		{"htm in lower case", []string{es.sign(t, es.header(), with(claims(), "htm", "post"))}, dpop.ErrProofInvalid, "htm"},
		{"another gRPC method", []string{es.sign(t, es.header(), with(claims(), "htu", "https://api.example.com/shop.v1.Orders/Refund"))}, dpop.ErrProofInvalid, "htu"},
		{"another authority", []string{es.sign(t, es.header(), with(claims(), "htu", "https://evil.example.com/shop.v1.Orders/Cancel"))}, dpop.ErrProofInvalid, "htu"},
		{"another port", []string{es.sign(t, es.header(), with(claims(), "htu", "https://api.example.com:8443/shop.v1.Orders/Cancel"))}, dpop.ErrProofInvalid, "htu"},
		{"another scheme", []string{es.sign(t, es.header(), with(claims(), "htu", "http://api.example.com/shop.v1.Orders/Cancel"))}, dpop.ErrProofInvalid, "htu"},
		{"userinfo in htu", []string{es.sign(t, es.header(), with(claims(), "htu", "https://u@api.example.com/shop.v1.Orders/Cancel"))}, dpop.ErrProofInvalid, "htu"},
		{"no ath beside a token", []string{es.sign(t, es.header(), with(claims(), "ath", nil))}, dpop.ErrProofInvalid, "no ath"},
		{"the ath of another token", []string{es.sign(t, es.header(), with(claims(), "ath", dpop.TokenHash(access+"x")))}, dpop.ErrProofInvalid, "ath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := newVerifier(dpop.Config{})
			_, err := v.Verify(tt.values, "POST", htu, access)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("%q does not say %q", err, tt.says)
			}
			var we *wire.Error
			if !errors.As(err, &we) || !wire.Known(err) {
				t.Fatalf("%v is no refusal of the error table", err)
			}
		})
	}
	// The good one passes, so that each refusal above is its change.
	v, _ := newVerifier(dpop.Config{})
	if _, err := v.Verify([]string{good}, "POST", htu, access); err != nil {
		t.Fatalf("the unaltered proof: %v", err)
	}
}

// hs256 is a proof MACed with the public key's x as the secret: the
// algorithm-confusion attack.
func hs256(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	in := b64([]byte(mustJSON(t, header))) + "." + b64([]byte(mustJSON(t, claims)))
	sig, err := jwtHS256(in, []byte(header["jwk"].(map[string]any)["x"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

func TestVerify_AProofIsAcceptedOnce(t *testing.T) {
	v, clk := newVerifier(dpop.Config{})
	k := newKey(t)
	p := proof(t, k, "POST", htu, access, "", t0)
	if _, err := v.Verify([]string{p}, "POST", htu, access); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	if _, err := v.Verify([]string{p}, "POST", htu, access); !errors.Is(err, dpop.ErrProofInvalid) || !strings.Contains(err.Error(), "seen before") {
		t.Fatalf("replayed within the window: %v", err)
	}
	// Past the window it is stale, whatever the replay cache forgot.
	clk.Advance(time.Minute)
	if _, err := v.Verify([]string{p}, "POST", htu, access); !errors.Is(err, dpop.ErrProofInvalid) || !strings.Contains(err.Error(), "old") {
		t.Fatalf("replayed after the window: %v", err)
	}
	// A refused proof takes no place: corrected, it is accepted.
	v2, _ := newVerifier(dpop.Config{})
	es := newRawES256(t)
	if _, err := v2.Verify([]string{es.sign(t, es.header(), with(claims(), "htm", "GET"))}, "POST", htu, access); err == nil {
		t.Fatal("htm GET accepted")
	}
	if _, err := v2.Verify([]string{es.sign(t, es.header(), claims())}, "POST", htu, access); err != nil {
		t.Fatalf("the same jti, once correct: %v", err)
	}
	// Two keys may use the same jti: the cache is keyed by key and jti.
	other := newRawES256(t)
	if _, err := v2.Verify([]string{other.sign(t, other.header(), claims())}, "POST", htu, access); err != nil {
		t.Fatalf("another key's proof with the same jti: %v", err)
	}
}

func TestVerify_AFullReplayCacheRefusesRatherThanForgets(t *testing.T) {
	v, clk := newVerifier(dpop.Config{ReplayCacheSize: 2})
	k := newKey(t)
	for range 2 {
		if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", t0)}, "POST", htu, access); err != nil {
			t.Fatal(err)
		}
	}
	_, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", t0)}, "POST", htu, access)
	if !errors.Is(err, dpop.ErrBusy) {
		t.Fatalf("a third proof in a cache of two: %v", err)
	}
	clk.Advance(dpop.DefaultWindow + time.Second)
	if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", clk.Now())}, "POST", htu, access); err != nil {
		t.Fatalf("once the first proofs are stale: %v", err)
	}
}

// A flood of proofs without a token (anyone can sign them, before any
// credential is checked) fills a cache of its own: the proofs of calls
// with a bound token are still recorded and accepted.
func TestVerify_TokenlessProofsCannotCrowdOutBoundCalls(t *testing.T) {
	v, _ := newVerifier(dpop.Config{ReplayCacheSize: 2})
	for range 2 {
		flood := newKey(t)
		if _, err := v.Verify([]string{proof(t, flood, "POST", htu, "", "", t0)}, "POST", htu, ""); err != nil {
			t.Fatal(err)
		}
	}
	_, err := v.Verify([]string{proof(t, newKey(t), "POST", htu, "", "", t0)}, "POST", htu, "")
	if !errors.Is(err, dpop.ErrBusy) {
		t.Fatalf("a third token-less proof in a cache of two: %v", err)
	}
	k := newKey(t)
	if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", t0)}, "POST", htu, access); err != nil {
		t.Fatalf("a bound call's proof after the flood: %v", err)
	}
}

func TestVerify_HTUComparedAsRFC9449Says(t *testing.T) {
	k := newKey(t)
	for _, got := range []string{
		htu,
		htu + "?x=1",
		htu + "#frag",
		"HTTPS://API.Example.COM/shop.v1.Orders/Cancel",
		"https://api.example.com:443/shop.v1.Orders/Cancel",
	} {
		v, _ := newVerifier(dpop.Config{})
		if _, err := v.Verify([]string{proof(t, k, "POST", got, access, "", t0)}, "POST", htu, access); err != nil {
			t.Errorf("htu %q: %v", got, err)
		}
	}
	v, _ := newVerifier(dpop.Config{})
	plain := dpop.HTU("http", "127.0.0.1:80", "/a.B/C")
	if _, err := v.Verify([]string{proof(t, k, "POST", "http://127.0.0.1/a.B/C", access, "", t0)}, "POST", plain, access); err != nil {
		t.Errorf("http default port: %v", err)
	}
	// The path is compared as it is: gRPC methods are case-sensitive.
	if _, err := v.Verify([]string{proof(t, k, "POST", "https://api.example.com/shop.v1.orders/cancel", access, "", t0)}, "POST", htu, access); err == nil {
		t.Error("a path in another case accepted")
	}
}

func TestVerify_NonceFlow(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, clk := newVerifier(dpop.Config{RequireNonce: true, NonceSecret: secret})
	if !v.RequiresNonce() {
		t.Fatal("RequiresNonce() = false")
	}
	k := newKey(t)

	// Without a nonce: DPOP_NONCE_REQUIRED with one to use.
	_, err := v.Verify([]string{proof(t, k, "POST", htu, access, "", t0)}, "POST", htu, access)
	nonce, ok := dpop.NonceOf(err)
	if !errors.Is(err, dpop.ErrNonceRequired) || !ok || nonce == "" {
		t.Fatalf("no nonce: %v (nonce %q)", err, nonce)
	}
	// The status a client receives carries it too.
	if n, ok := dpop.NonceOf(wire.StatusError(err)); !ok || n != nonce {
		t.Fatalf("NonceOf(status) = %q, %v", n, ok)
	}
	if wire.Reason(wire.StatusError(err)) != wire.ReasonDPoPNonceRequired {
		t.Fatalf("reason %q", wire.Reason(wire.StatusError(err)))
	}
	// With it: accepted, for the nonce's lifetime.
	clk.Advance(time.Second)
	if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, nonce, clk.Now())}, "POST", htu, access); err != nil {
		t.Fatalf("with the nonce: %v", err)
	}
	// Another instance sharing the secret accepts it; one without does not.
	shared, _ := newVerifier(dpop.Config{RequireNonce: true, NonceSecret: secret})
	if _, err := shared.Verify([]string{proof(t, k, "POST", htu, access, nonce, t0)}, "POST", htu, access); err != nil {
		t.Fatalf("an instance sharing the secret: %v", err)
	}
	stranger, _ := newVerifier(dpop.Config{RequireNonce: true})
	if _, err := stranger.Verify([]string{proof(t, k, "POST", htu, access, nonce, t0)}, "POST", htu, access); !errors.Is(err, dpop.ErrNonceRequired) {
		t.Fatalf("an instance with another secret: %v", err)
	}
	// A forged or expired nonce is answered with a fresh one.
	for _, bad := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", nonce + "A"} {
		if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, bad, clk.Now())}, "POST", htu, access); !errors.Is(err, dpop.ErrNonceRequired) {
			t.Fatalf("nonce %q: %v", bad, err)
		}
	}
	clk.Advance(dpop.DefaultNonceLifetime)
	_, err = v.Verify([]string{proof(t, k, "POST", htu, access, nonce, clk.Now())}, "POST", htu, access)
	fresh, _ := dpop.NonceOf(err)
	if !errors.Is(err, dpop.ErrNonceRequired) || fresh == nonce {
		t.Fatalf("an expired nonce: %v (fresh %q)", err, fresh)
	}
	if _, err := v.Verify([]string{proof(t, k, "POST", htu, access, v.Nonce(), clk.Now())}, "POST", htu, access); err != nil {
		t.Fatalf("Nonce(): %v", err)
	}
	// A verifier that does not require nonces ignores them.
	lax, _ := newVerifier(dpop.Config{})
	if _, err := lax.Verify([]string{proof(t, k, "POST", htu, access, "whatever", t0)}, "POST", htu, access); err != nil {
		t.Fatalf("a nonce nobody asked for: %v", err)
	}
	if _, ok := dpop.NonceOf(dpop.ErrProofInvalid); ok {
		t.Fatal("NonceOf(ErrProofInvalid) found a nonce")
	}
}

func TestHTU(t *testing.T) {
	if got := dpop.HTU("https", "api.example.com", "/shop.v1.Orders/Cancel"); got != htu {
		t.Fatalf("HTU = %q", got)
	}
}
