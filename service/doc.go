// Package service implements authd's gRPC API: auth.v1.AuthService (password
// login, refresh with rotation and reuse detection, verification, logout,
// password change, renewal, the revocation list and session checks, the
// JWKS, tokens for service accounts) and auth.v1.AdminService (users,
// roles, sessions and service accounts, for holders of authd:admin).
//
// New assembles the service around one Authenticator (package
// interceptors), which NewServer installs in front of it: AuthService is
// protected by the requirements declared in auth.proto like any other
// service, and Verify answers exactly what that Authenticator would.
//
//	svc, err := service.New(st, signer, verifier, hasher, service.WithLogger(logger))
//	srv, health, err := service.NewServer(svc, grpc.Creds(tlsCreds))
//	err = srv.Serve(lis)
package service
