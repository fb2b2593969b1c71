// Package jwks is the key source of services that verify authd's tokens
// without holding its keys: it fetches authd's published public keys (over
// gRPC with AuthService.GetJWKS, or from /.well-known/jwks.json over HTTP),
// caches them, and refetches when a token names a kid it does not know, at
// most once per cooldown.
//
// A Source is a token.KeySource:
//
//	keys := jwks.New(jwks.GRPC(authdConn), jwks.Config{})
//	if err := keys.Refresh(ctx); err != nil { // fail fast at startup
//		return err
//	}
//	verifier, err := token.NewVerifier(keys)
package jwks
