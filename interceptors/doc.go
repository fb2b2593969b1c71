// Package interceptors adapts a guard.Guard to grpc-go: unary and stream
// server interceptors that read `authorization: Bearer <jwt>` metadata and
// enforce, per method, what the method declares in its .proto (or in Go),
// an AuthFunc for go-grpc-middleware, the startup check of a server, and
// the call logging authd uses for itself.
//
// With guard.Config.DPoP, a token bound to a key (cnf.jkt) travels as
// `authorization: DPoP <jwt>` beside a proof in metadata `dpop`, whose htu
// names the call's :authority and scheme (https over TLS); a refusal
// DPOP_NONCE_REQUIRED carries the nonce in the `dpop-nonce` response
// header, which a verifier requiring nonces also sends with every call
// that carried a proof.
//
// Usage:
//
//	authn := interceptors.New(guard.New(verifier, guard.Config{PublicHealthAndReflection: true}))
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
//	)
//	examplev1.RegisterGreeterServiceServer(srv, greeter)
//	if err := authn.CheckServer(srv); err != nil {
//		log.Fatal(err) // names every method without a requirement
//	}
//
// A service verifying authd's tokens gets its Guard from protect.New.
// Handlers read the verified claims with guard.ClaimsFromContext. Refusals
// are the Guard's, sent with wire.StatusError: codes.Unauthenticated with a
// google.rpc.ErrorInfo{domain: "authd", reason} detail (TOKEN_MISSING,
// TOKEN_INVALID, TOKEN_EXPIRED, WRONG_TOKEN_TYPE, FRESH_TOKEN_REQUIRED,
// TOKEN_REVOKED), PermissionDenied for roles and scopes, identical for
// unary calls and streams; a check that cannot be made fails closed with
// Unavailable.
//
// # Relation to go-grpc-middleware
//
// The package follows go-grpc-middleware/v2's auth package and composes with
// it: Authenticator.AuthFunc is an auth.AuthFunc, so it can run behind
// auth.UnaryServerInterceptor and a selector.MatchFunc, and authd itself
// chains it after the middleware's logging and recovery interceptors. The
// interceptors here do not wrap auth.UnaryServerInterceptor, for two
// reasons: its ServiceAuthFuncOverride lets any service silently replace the
// policy (a method would no longer be protected by what its .proto says),
// and auth.AuthFromMD reads only the first authorization value and keeps
// stray spaces, where authd refuses several values and malformed headers.
// Stream policing also needs the decision, which AuthFunc's contract
// cannot pass to a second interceptor without a second lookup.
package interceptors
