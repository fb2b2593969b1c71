package service

import (
	"github.com/authd-dev/authd/dpop"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/token"
	"github.com/authd-dev/authd/wire"
)

// Tokens bound to a key (DPoP, RFC 9449) or a certificate (RFC 8705):
// Login, LoginSecondFactor, FinishPasskeyLogin and IssueClientToken
// called with a DPoP proof issue tokens bound to the proof's key; a
// session stays bound (its Refresh must prove the key: the Guard checks
// that before the handler runs). IssueClientToken over mutual TLS binds
// to the client certificate when no proof is sent.

// keyBinding is the binding of the tokens call issues: the key of its
// DPoP proof, nil without one. A proof that does not check is
// the call's refusal. The interceptors have already put a fresh nonce in
// dpop-nonce for a call that carries a proof, when nonces are required.
func (s *Service) keyBinding(call guard.Call) (*token.Confirmation, error) {
	jkt, err := s.guard.ProvePossession(call)
	if err != nil || jkt == "" {
		return nil, err
	}
	return &token.Confirmation{JWKThumbprint: jkt}, nil
}

// tokenType is the token_type of tokens bound as bind says: "DPoP" for a
// key, "Bearer" otherwise (a certificate-bound token is sent as Bearer
// over the connection that proves it).
func tokenType(bind *token.Confirmation) string {
	if bind.GetJWKThumbprint() != "" {
		return wire.DPoPScheme
	}
	return "Bearer"
}

// errBindingRequired refuses a bearer token to a service account that
// must get bound ones (authd client add --require-binding).
var errBindingRequired = dpop.ErrProofRequired.Detail(
	"this service account gets only bound tokens: send a DPoP proof, or call over mutual TLS with its client certificate", nil, 0)
