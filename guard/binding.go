package guard

import (
	"crypto/subtle"
	"crypto/x509"
	"strings"

	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/token"
)

// The refusals of a token's binding to a key, besides dpop's own
// (dpop.ErrProofRequired, dpop.ErrProofInvalid, dpop.ErrNonceRequired,
// dpop.ErrBusy), which errors.Is matches these to.
var (
	// ErrBoundTokenAsBearer: a token bound to a key (cnf.jkt) sent as
	// "Bearer <token>" (or in a cookie): DPOP_PROOF_REQUIRED. A bound token
	// is of no use without its key.
	ErrBoundTokenAsBearer = dpop.ErrProofRequired.Detail(
		`DPoP proof required: the token is bound to a key; send it as "DPoP <token>" with a proof in metadata dpop`, nil, 0)
	// ErrNotBound: a token bound to no key sent as "DPoP <token>":
	// DPOP_PROOF_INVALID.
	ErrNotBound = dpop.ErrProofInvalid.Detail(
		`invalid DPoP proof: the token is not bound to a key; send it as "Bearer <token>"`, nil, 0)
	// ErrProofOfAnotherKey: a valid proof signed by a key other than the
	// one the token is bound to: DPOP_PROOF_INVALID.
	ErrProofOfAnotherKey = dpop.ErrProofInvalid.Detail(
		"invalid DPoP proof: signed by another key than the token is bound to", nil, 0)
	// ErrSenderConstrained: a method whose rule is sender_constrained
	// called with a token bound to nothing: DPOP_PROOF_REQUIRED.
	ErrSenderConstrained = dpop.ErrProofRequired.Detail(
		"DPoP proof required: this method takes only tokens bound to a key (DPoP) or a client certificate", nil, 0)
)

// binding checks that the call proves what the token is bound to (cnf),
// on every call: what the verified-token cache holds is what the token
// says, never what the call proves. A token bound to a key (cnf.jkt, RFC
// 9449) is accepted only as "DPoP <token>" with a proof, for this call
// and this token, signed by that key; one bound to a certificate
// (x5t#S256, RFC 8705) only from a call presenting it; one bound by a
// method this Guard does not know, never. A token bound to no key is
// refused as "DPoP <token>". It returns the proven key's thumbprint, ""
// when the token is bound to none.
func (g *Guard) binding(c *token.Claims, cred credential, call Call) (string, error) {
	var jkt, x5t string
	if cnf := c.Confirmation; cnf != nil {
		if len(cnf.Other) > 0 || (cnf.JWKThumbprint == "" && cnf.CertificateThumbprint == "") {
			return "", ErrUnbound // a confirmation method this Guard does not know
		}
		jkt, x5t = cnf.JWKThumbprint, cnf.CertificateThumbprint
	}
	if x5t != "" && !presents(call.PeerCertificate, x5t) {
		return "", ErrUnbound
	}
	switch {
	case jkt == "" && cred.dpop:
		return "", ErrNotBound
	case jkt == "":
		return "", nil
	case g.dpop == nil:
		return "", ErrUnbound // no proof can be checked here
	case !cred.dpop:
		return "", ErrBoundTokenAsBearer
	}
	p, err := g.dpop.Verify(call.DPoP, "POST", g.htu(call), cred.raw)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare([]byte(p.JKT), []byte(jkt)) != 1 {
		return "", ErrProofOfAnotherKey
	}
	return jkt, nil
}

// presents reports whether cert is the certificate of thumbprint x5t, the
// base64url SHA-256 of its DER (RFC 8705 §3.1).
func presents(cert *x509.Certificate, x5t string) bool {
	return cert != nil && subtle.ConstantTimeCompare([]byte(token.CertificateThumbprint(cert)), []byte(x5t)) == 1
}

// ProvePossession checks the DPoP proof of a call that presents no token
// (authd's Login and IssueClientToken; Refresh with an unbound refresh
// token), for this method and authority, and returns the thumbprint of
// the key it proves, to bind the tokens issued to (cnf.jkt); "" with no
// error when the call carries no proof, or when the Guard takes none (no
// Config.DPoP): its tokens are then bearer tokens. A proof that does not
// check is refused (dpop.ErrProofInvalid, dpop.ErrNonceRequired, …):
// a client that asked for bound tokens never silently gets bearer ones.
// The proof is spent: a second call with it is refused.
func (g *Guard) ProvePossession(call Call) (jkt string, err error) {
	if g.dpop == nil || len(call.DPoP) == 0 {
		return "", nil
	}
	p, err := g.dpop.Verify(call.DPoP, "POST", g.htu(call), "")
	if err != nil {
		return "", err
	}
	return p.JKT, nil
}

// DPoPNonce returns a fresh nonce for the dpop-nonce response header when
// the Guard's dpop.Verifier requires nonces, "" otherwise: adapters may
// send it with successful responses, so that clients rarely meet
// DPOP_NONCE_REQUIRED.
func (g *Guard) DPoPNonce() string {
	if g.dpop == nil || !g.dpop.RequiresNonce() {
		return ""
	}
	return g.dpop.Nonce()
}

// htu is the htu a proof for call must name.
func (g *Guard) htu(call Call) string {
	scheme, authority := call.Scheme, call.Authority
	if scheme == "" {
		scheme = "https"
	}
	if g.publicAuthority != "" {
		authority = g.publicAuthority
		if g.publicScheme != "" {
			scheme = g.publicScheme
		}
	}
	return dpop.HTU(scheme, authority, call.Method)
}

// splitPublicAuthority reads Config.PublicAuthority: "host[:port]", or
// "scheme://host[:port]".
func splitPublicAuthority(s string) (scheme, authority string) {
	if scheme, authority, ok := strings.Cut(s, "://"); ok {
		return strings.ToLower(scheme), strings.TrimSuffix(authority, "/")
	}
	return "", s
}
