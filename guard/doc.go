// Package guard decides, for any transport, whether a call to a method may
// proceed: the method's rule (its proto options, or Go), the credential
// the call presents (verified, its binding proven, its session live), and
// a renewal to hand back.
//
// A Guard is the one decision core; thin adapters apply it to a transport
// (package interceptors for grpc-go) by filling a Call from their request,
// putting the Decision's claims in the handler's context and sending its
// refusals with wire.StatusError:
//
//	g := guard.New(verifier, guard.Config{PublicHealthAndReflection: true})
//	d, err := g.Decide(ctx, guard.Call{Method: "/shop.v1.Orders/Cancel", Authorization: values})
//	if err != nil {
//		return wire.StatusError(err) // TOKEN_MISSING, TOKEN_EXPIRED, INSUFFICIENT_ROLE, …
//	}
//	ctx = guard.ContextWithClaims(ctx, d.Claims)
//
// Each method declares what it needs in its service's .proto:
//
//	rpc DeleteAccount(DeleteAccountRequest) returns (DeleteAccountResponse) {
//	  option (auth.v1.requirement) = REQUIREMENT_FRESH_ACCESS;
//	}
//
// or in Go (Config.Methods, Config.Services), which wins over the proto
// option. A method that declares nothing gets Config.Default, ACCESS, so
// nothing is ever open by accident; CheckMethods names such methods so a
// server can refuse to start until every method says what it needs.
//
// Verified tokens are cached (keyed by the token's SHA-256, for at most a
// minute and never past exp or a change of the verifier's keys); what the
// cache holds is what the token says, never what the call proves, so the
// binding of a bound token and the revocation of its session are checked on
// every call.
//
// A token bound to a key (cnf.jkt, DPoP, RFC 9449) is accepted, by a Guard
// with Config.DPoP, only as "DPoP <token>" with a proof of the key for this
// call in the dpop metadata (Call.DPoP, for the htu Call.Scheme,
// Call.Authority and Call.Method make); one bound to a certificate
// (cnf.x5t#S256, RFC 8705) only from a call presenting it. The refusals
// are package dpop's (DPOP_PROOF_REQUIRED, DPOP_PROOF_INVALID,
// DPOP_NONCE_REQUIRED); adapters send the nonce of the last in the
// wire.DPoPNonceHeader response header (dpop.NonceOf).
package guard
