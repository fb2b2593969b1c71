// Package dpop is DPoP (OAuth 2.0 Demonstrating Proof of Possession, RFC
// 9449) in gRPC form: a client proves, on every call, that it holds the
// private key a token is bound to, so that a copied token is of no use
// without the key.
//
// A proof is a JWT the client signs for one call and sends in metadata
// `dpop` (wire.DPoPKey): header typ "dpop+jwt", alg ES256 or EdDSA and
// the public key as a jwk; claims jti (random), htm "POST" (every gRPC
// call is a POST), htu "<scheme>://<authority>/<pkg.Service>/<Method>"
// (HTU), iat, and, beside an access token, ath, the base64url SHA-256 of
// that token. A token bound to the key carries the key's RFC 7638
// thumbprint in its cnf.jkt claim (Key.Thumbprint) and travels as
// `authorization: DPoP <token>` (wire.DPoPScheme).
//
// The client side is a Key:
//
//	key, _ := dpop.NewKey() // keep it: key.MarshalPEM, dpop.ParseKey
//	proof, _ := key.Proof("POST", dpop.HTU("https", "api.example.com", "/shop.v1.Orders/Cancel"), accessToken, "", time.Now())
//	md := metadata.Pairs("authorization", "DPoP "+accessToken, "dpop", proof)
//
// The server side is a Verifier, which package guard applies to bound
// tokens (guard.Config.DPoP):
//
//	v := dpop.NewVerifier(dpop.Config{})
//	p, err := v.Verify(md.Get("dpop"), "POST", htu, accessToken)
//	// p.JKT must be the token's cnf.jkt
//
// # What a proof costs, and what a fleet shares
//
// A proof cannot be cached: each is verified (one ES256 or Ed25519
// signature) and its jti recorded, once, in the Verifier's replay cache,
// until the proof's iat is more than Config.Window old. The replay cache
// is memory of one Verifier: instances of a fleet share nothing, so a
// proof captured in flight can be replayed once to each other instance
// within the window. The window bounds that; nonces bound it further
// (Config.RequireNonce): instances sharing Config.NonceSecret accept each
// other's nonces, which expire after Config.NonceLifetime. The cache is
// bounded (Config.ReplayCacheSize); when it is full of live entries, new
// proofs are refused (ErrBusy) rather than forgetting a jti early.
//
// Refusals are *wire.Error values: ErrProofRequired, ErrProofInvalid
// (detailed with what is wrong), ErrNonceRequired (NonceRequired carries
// the nonce, NonceOf reads it back) and ErrBusy.
package dpop
