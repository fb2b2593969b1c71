package guard_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/authd-dev/authd/authdtest/tokens"
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

const authority = "api.example.com"

// dpopWorld is a Guard taking DPoP proofs, a client's key and an access
// and a refresh token bound to it.
type dpopWorld struct {
	iss              *tokens.Issuer
	g                *guard.Guard
	key              *dpop.Key
	access, refresh  string
	verifier         *countingVerifier
	unbound, another string // an unbound token, and one bound to another key
}

// newDPoPWorld builds it with cfg and, on the issuer's clock, a
// dpop.Verifier of vcfg; setup, when not nil, completes cfg.
func newDPoPWorld(t *testing.T, cfg guard.Config, vcfg dpop.Config, setup func(*tokens.Issuer, *guard.Config)) *dpopWorld {
	t.Helper()
	iss := tokens.New(t)
	key, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := dpop.NewEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	vcfg.Clock = iss.Clock
	cfg.DPoP, cfg.Clock = dpop.NewVerifier(vcfg), iss.Clock
	if setup != nil {
		setup(iss, &cfg)
	}
	v := &countingVerifier{Verifier: iss.Verifier}
	w := &dpopWorld{iss: iss, g: newGuardWith(v, cfg), key: key, verifier: v,
		access:  boundToken(t, iss, &token.Confirmation{JWKThumbprint: key.Thumbprint()}),
		unbound: iss.Access(t, "alice", sid),
		another: boundToken(t, iss, &token.Confirmation{JWKThumbprint: other.Thumbprint()}),
	}
	r := iss.Claims(token.Refresh, "alice", sid)
	r.Confirmation = &token.Confirmation{JWKThumbprint: key.Thumbprint()}
	w.refresh = iss.Sign(t, r)
	return w
}

// proof is a proof by key for a call of method to authority with tok.
func (w *dpopWorld) proof(t *testing.T, key *dpop.Key, method, tok string) string {
	t.Helper()
	p, err := key.Proof("POST", dpop.HTU("https", authority, method), tok, "", w.iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dpopCall is a call of method presenting tok as "DPoP <tok>" with proof
// ("" for none), over TLS to authority.
func dpopCall(method, tok, proof string) guard.Call {
	c := guard.Call{Method: method, Authorization: []string{"DPoP " + tok}, Scheme: "https", Authority: authority}
	if proof != "" {
		c.DPoP = []string{proof}
	}
	return c
}

// A token bound to a key is accepted only as "DPoP <token>" with a proof,
// for this call and this token, by that key; the decision names the key.
func TestDPoP_BoundTokenNeedsItsProof(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil)
	stranger, err := dpop.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access)))
	if err != nil || d.Claims == nil || d.KeyThumbprint() != w.key.Thumbprint() {
		t.Fatalf("with its proof: %+v, %v", d, err)
	}
	if got := guard.KeyThumbprintFromContext(guard.ContextWithDecision(bg, d)); got != w.key.Thumbprint() {
		t.Fatalf("KeyThumbprintFromContext = %q", got)
	}
	lower := dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access))
	lower.Authorization = []string{"dpop " + w.access}
	if _, err := w.g.Decide(bg, lower); err != nil {
		t.Fatalf("scheme in lower case: %v", err)
	}

	asBearer := call(accessMethod, w.access)
	asBearer.Scheme, asBearer.Authority = "https", authority
	withProof := asBearer
	withProof.DPoP = []string{w.proof(t, w.key, accessMethod, w.access)}
	replayed := w.proof(t, w.key, accessMethod, w.access)
	if _, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, replayed)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		call   guard.Call
		reason string
		is     error
	}{
		{"as a bearer token", asBearer, wire.ReasonDPoPProofRequired, guard.ErrBoundTokenAsBearer},
		{"as a bearer token beside a proof", withProof, wire.ReasonDPoPProofRequired, guard.ErrBoundTokenAsBearer},
		{"without a proof", dpopCall(accessMethod, w.access, ""), wire.ReasonDPoPProofRequired, dpop.ErrProofRequired},
		{"with another key's proof", dpopCall(accessMethod, w.access, w.proof(t, stranger, accessMethod, w.access)), wire.ReasonDPoPProofInvalid, guard.ErrProofOfAnotherKey},
		{"with a proof for another method", dpopCall(accessMethod, w.access, w.proof(t, w.key, freshMethod, w.access)), wire.ReasonDPoPProofInvalid, dpop.ErrProofInvalid},
		{"with a proof for another token", dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.another)), wire.ReasonDPoPProofInvalid, dpop.ErrProofInvalid},
		{"with a proof without ath", dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, "")), wire.ReasonDPoPProofInvalid, dpop.ErrProofInvalid},
		{"with a replayed proof", dpopCall(accessMethod, w.access, replayed), wire.ReasonDPoPProofInvalid, dpop.ErrProofInvalid},
		{"with two proofs", func() guard.Call {
			c := dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access))
			c.DPoP = append(c.DPoP, c.DPoP[0])
			return c
		}(), wire.ReasonDPoPProofInvalid, dpop.ErrProofInvalid},
		{"bound to another key, with this key's proof", dpopCall(accessMethod, w.another, w.proof(t, w.key, accessMethod, w.another)), wire.ReasonDPoPProofInvalid, guard.ErrProofOfAnotherKey},
		{"an unbound token as DPoP", dpopCall(accessMethod, w.unbound, w.proof(t, w.key, accessMethod, w.unbound)), wire.ReasonDPoPProofInvalid, guard.ErrNotBound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := w.g.Decide(bg, tc.call)
			if !errors.Is(err, tc.is) || d.Claims != nil {
				t.Fatalf("%+v, %v; want %v", d.Claims, err, tc.is)
			}
			wantRefusal(t, err, codes.Unauthenticated, tc.reason)
			// Authenticate (Logout) checks the binding too; a proof
			// that checked is spent, whatever followed.
			_, err = w.g.Authenticate(bg, tc.call)
			if !errors.Is(err, tc.is) && !(tc.reason == wire.ReasonDPoPProofInvalid && errors.Is(err, dpop.ErrProofInvalid)) {
				t.Fatalf("Authenticate: %v; want %v", err, tc.is)
			}
		})
	}
	// A proof for another authority, or scheme.
	for _, c := range []guard.Call{
		{Method: accessMethod, Authorization: []string{"DPoP " + w.access}, Scheme: "https", Authority: "evil.example.com"},
		{Method: accessMethod, Authorization: []string{"DPoP " + w.access}, Scheme: "http", Authority: authority},
	} {
		c.DPoP = []string{w.proof(t, w.key, accessMethod, w.access)}
		_, err := w.g.Decide(bg, c)
		wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofInvalid)
	}
	// An unbound token still works as a bearer token.
	if _, err := w.g.Decide(bg, call(accessMethod, w.unbound)); err != nil {
		t.Fatalf("an unbound bearer token: %v", err)
	}
}

// The verified-token cache holds what a token says, never what a call
// proved: a cached bound token needs a new proof on every call.
func TestDPoP_CachedTokenStillNeedsAProofEveryCall(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil)
	for i := range 3 {
		if _, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access))); err != nil {
			t.Fatalf("call %d with a proof: %v", i, err)
		}
		_, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, ""))
		wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
		c := call(accessMethod, w.access)
		_, err = w.g.Decide(bg, c)
		wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	}
	if n := w.verifier.n.Load(); n != 1 {
		t.Fatalf("%d signature checks of the token, want 1: the later calls came from the cache", n)
	}
}

// A refresh token bound to a key is refreshed only with a proof of it, so
// that a stolen one is of no use; the decision names the key to bind the
// new tokens to.
func TestDPoP_BoundRefreshToken(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil)
	c := call(refreshMethod, w.refresh)
	_, err := w.g.Decide(bg, c)
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	d, err := w.g.Decide(bg, dpopCall(refreshMethod, w.refresh, w.proof(t, w.key, refreshMethod, w.refresh)))
	if err != nil || d.KeyThumbprint() != w.key.Thumbprint() {
		t.Fatalf("with its proof: %q, %v", d.KeyThumbprint(), err)
	}
}

// A sender_constrained rule refuses a bearer token, whatever else it
// carries, and takes a token bound to a key or a certificate.
func TestDPoP_SenderConstrainedRule(t *testing.T) {
	const constrained = "/test.v1.Guarded/Constrained"
	rules := map[string]guard.Rule{constrained: {SenderConstrained: true}}
	for m, r := range methods {
		rules[m] = r
	}
	w := newDPoPWorld(t, guard.Config{Methods: rules}, dpop.Config{}, nil)
	_, err := w.g.Decide(bg, call(constrained, w.unbound))
	if !errors.Is(err, guard.ErrSenderConstrained) {
		t.Fatalf("an unbound token: %v", err)
	}
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPProofRequired)
	if _, err := w.g.Decide(bg, dpopCall(constrained, w.access, w.proof(t, w.key, constrained, w.access))); err != nil {
		t.Fatalf("a bound token with its proof: %v", err)
	}
	cert := newCert(t, "billing")
	byCert := boundToken(t, w.iss, &token.Confirmation{CertificateThumbprint: thumbprint(cert)})
	if _, err := w.g.Decide(bg, guard.Call{Method: constrained, Authorization: bearer(byCert), PeerCertificate: cert}); err != nil {
		t.Fatalf("a token bound to the call's certificate: %v", err)
	}
	if !w.g.Rule(constrained).SenderConstrained {
		t.Fatal("Rule() lost SenderConstrained")
	}
	// On a method that takes no access token, it contradicts itself.
	for _, req := range []guard.Requirement{guard.Public, guard.Refresh} {
		const m = "/test.v1.Guarded/Bad"
		g := guard.New(w.iss.Verifier, guard.Config{Clock: w.iss.Clock, Methods: map[string]guard.Rule{m: {Requirement: req, SenderConstrained: true}}})
		if err := g.CheckMethods([]string{m}); err == nil {
			t.Errorf("CheckMethods accepted sender_constrained on %v", req)
		}
	}
}

// ProvePossession is authd's issuing side: the key a token-less call
// proves, to bind the tokens it issues to.
func TestDPoP_ProvePossession(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil)
	const login = "/auth.v1.AuthService/Login"
	c := guard.Call{Method: login, Scheme: "https", Authority: authority}
	if jkt, err := w.g.ProvePossession(c); jkt != "" || err != nil {
		t.Fatalf("no proof: %q, %v", jkt, err)
	}
	c.DPoP = []string{w.proof(t, w.key, login, "")}
	if jkt, err := w.g.ProvePossession(c); jkt != w.key.Thumbprint() || err != nil {
		t.Fatalf("a proof: %q, %v", jkt, err)
	}
	if _, err := w.g.ProvePossession(c); !errors.Is(err, dpop.ErrProofInvalid) {
		t.Fatalf("the same proof again: %v", err)
	}
	c.DPoP = []string{w.proof(t, w.key, "/auth.v1.AuthService/Refresh", "")}
	if _, err := w.g.ProvePossession(c); !errors.Is(err, dpop.ErrProofInvalid) {
		t.Fatalf("a proof for another method: %v", err)
	}
	plain := newGuard(w.iss, guard.Config{})
	if jkt, err := plain.ProvePossession(c); jkt != "" || err != nil {
		t.Fatalf("a Guard without DPoP: %q, %v", jkt, err)
	}
}

// Behind a proxy, proofs name the public authority, not the one the
// server receives.
func TestDPoP_PublicAuthority(t *testing.T) {
	for _, public := range []string{authority, "https://" + authority} {
		w := newDPoPWorld(t, guard.Config{PublicAuthority: public}, dpop.Config{}, nil)
		c := dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access))
		c.Authority = "10.0.0.7:8080"
		if public != authority {
			c.Scheme = "http" // TLS ends at the proxy
		}
		if _, err := w.g.Decide(bg, c); err != nil {
			t.Fatalf("PublicAuthority %q: %v", public, err)
		}
	}
}

// A verifier requiring nonces refuses a proof without one with
// DPOP_NONCE_REQUIRED carrying a nonce, which the Guard also hands out.
func TestDPoP_Nonce(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{RequireNonce: true}, nil)
	_, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access)))
	nonce, ok := dpop.NonceOf(err)
	if !ok {
		t.Fatalf("no nonce in %v", err)
	}
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonDPoPNonceRequired)
	p, err := w.key.Proof("POST", dpop.HTU("https", authority, accessMethod), w.access, nonce, w.iss.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, p)); err != nil {
		t.Fatalf("with the nonce: %v", err)
	}
	if w.g.DPoPNonce() == "" || newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil).g.DPoPNonce() != "" {
		t.Fatal("DPoPNonce: a nonce only when nonces are required")
	}
}

// Precheck refuses, before the body, what Decide refuses of a DPoP call
// whatever the token: a proof missing, doubled or not shaped like one; a
// Guard without DPoP knows no DPoP scheme.
func TestDPoP_Precheck(t *testing.T) {
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, nil)
	good := w.proof(t, w.key, accessMethod, w.access)
	for _, tc := range []struct {
		name   string
		proofs []string
		reason string
	}{
		{"no proof", nil, wire.ReasonDPoPProofRequired},
		{"two proofs", []string{good, good}, wire.ReasonDPoPProofInvalid},
		{"not a JWS", []string{"not a proof"}, wire.ReasonDPoPProofInvalid},
	} {
		c := dpopCall(accessMethod, w.access, "")
		c.DPoP = tc.proofs
		wantRefusal(t, w.g.Precheck(c), codes.Unauthenticated, tc.reason)
		_, err := w.g.Decide(bg, c)
		wantRefusal(t, err, codes.Unauthenticated, tc.reason)
	}
	if err := w.g.Precheck(dpopCall(accessMethod, w.access, good)); err != nil {
		t.Fatalf("a good call: %v", err)
	}
	plain := newGuard(w.iss, guard.Config{})
	wantRefusal(t, plain.Precheck(dpopCall(accessMethod, w.access, good)), codes.Unauthenticated, wire.ReasonTokenMissing)
	_, err := plain.Decide(bg, dpopCall(accessMethod, w.access, good))
	wantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenMissing)
}

// A token bound to a key is never renewed: its renewal would need the
// client's proof.
func TestDPoP_BoundTokensAreNotRenewed(t *testing.T) {
	var r *renewCounter
	w := newDPoPWorld(t, guard.Config{}, dpop.Config{}, func(iss *tokens.Issuer, cfg *guard.Config) {
		r = &renewCounter{iss: iss}
		cfg.Renewer = r.renewer()
	})
	w.iss.Clock.Advance(10 * time.Minute)
	d, err := w.g.Decide(bg, dpopCall(accessMethod, w.access, w.proof(t, w.key, accessMethod, w.access)))
	if err != nil {
		t.Fatal(err)
	}
	if got := w.g.Renewal(bg, d); got != "" || r.asked.Load() != 0 {
		t.Fatalf("renewed a bound token: %q", got)
	}
}
