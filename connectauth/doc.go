// Package connectauth adapts a guard.Guard to connect-go: the interceptor
// and HTTP middleware that enforce, per procedure, what the method
// declares in its .proto (or in Go), over the Connect, gRPC and gRPC-Web
// protocols alike, the startup check of a service's procedures, the one
// mapping of refusals to connect errors, and the client interceptor that
// makes connect-go clients authenticate as a client.Client.
//
// Usage, in a service verifying authd's tokens:
//
//	authn, err := connectauth.Protect(ctx, authdConn, protect.Config{})
//	if err != nil {
//		log.Fatal(err)
//	}
//	path, handler := examplev1connect.NewGreeterServiceHandler(greeter,
//		connect.WithInterceptors(authn.Interceptor()))
//	if err := authn.CheckServices(path); err != nil {
//		log.Fatal(err) // names every method without a requirement
//	}
//	mux := http.NewServeMux()
//	mux.Handle(path, authn.Middleware(handler))
//
// and in its clients, logged in with package client:
//
//	greeter := examplev1connect.NewGreeterServiceClient(http.DefaultClient, url,
//		connect.WithInterceptors(connectauth.ClientInterceptor(c)))
//
// With client.Config.DPoP it signs a DPoP proof for every call, for the
// URL's host and, unless WithScheme("http") says otherwise, https.
//
// It behaves as package interceptors does for grpc-go, and a caller
// cannot tell the two apart: handlers read the verified claims with
// guard.ClaimsFromContext; refusals carry the same code, message and
// google.rpc.ErrorInfo{domain: "authd", reason} detail (Error); a renewal
// comes back in the x-access-token response header; streams end with
// TOKEN_EXPIRED or TOKEN_REVOKED when their token expires or their session
// is revoked. Middleware refuses a call without a token before its body is
// read (as interceptors.TapHandle does) and hands the client certificate of
// a mutual-TLS connection to the interceptor, which connect's Peer does not
// carry; without it, tokens bound to a certificate are refused.
//
// # Browsers
//
// A browser calling over Connect or gRPC-Web with the cookies of a
// session opened with LoginRequest.set_cookies is authenticated by its
// access cookie when the Guard has guard.Config.Cookies (Protect sets
// authd's names unless protect.Config.Guard.Cookies names others), only if
// its x-csrf-token header equals the CSRF cookie (CSRF_TOKEN_INVALID
// otherwise) and only without an authorization header. Its renewal comes
// back as a Set-Cookie of the access cookie, never in a header its page's
// scripts could read. Connect-go applies no size limit of its own to
// requests: set connect.WithReadMaxBytes on the handlers.
package connectauth
