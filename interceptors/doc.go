// Package interceptors lets any gRPC service demand, per method, an access
// token, a fresh access token, a refresh token, or nothing, from the
// `authorization: Bearer <jwt>` metadata of its callers.
//
// Each method's requirement is declared in the service's own .proto:
//
//	rpc DeleteAccount(DeleteAccountRequest) returns (DeleteAccountResponse) {
//	  option (auth.v1.requirement) = REQUIREMENT_FRESH_ACCESS;
//	}
//
// or in Go with WithMethod / WithService, which win over the proto option.
// A method that declares nothing gets the default, REQUIREMENT_ACCESS, so
// nothing is ever open by accident; CheckServer lists such methods so a
// server can refuse to start until every method says what it needs.
//
// Usage:
//
//	authn := interceptors.New(verifier, interceptors.WithPublicHealthAndReflection())
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
//	)
//	examplev1.RegisterGreeterServiceServer(srv, greeter)
//	if err := authn.CheckServer(srv); err != nil {
//		log.Fatal(err) // names every method without a requirement
//	}
//
// Handlers read the verified claims with ClaimsFromContext. Refusals are
// codes.Unauthenticated with a google.rpc.ErrorInfo{domain: "authd", reason}
// detail (TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED, WRONG_TOKEN_TYPE,
// FRESH_TOKEN_REQUIRED, TOKEN_REVOKED), identical for unary calls and streams;
// a revocation check that cannot be made fails closed with Unavailable.
//
// Streams are checked when they open and, by default, ended with
// TOKEN_EXPIRED when their token expires while they are still open.
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
// Stream expiry also needs the verified claims, which AuthFunc's contract
// cannot pass to a second interceptor without a second lookup.
package interceptors
