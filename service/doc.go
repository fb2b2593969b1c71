// Package service is authd's gRPC API: auth.v1.AuthService (password
// login, refresh with rotation and reuse detection, verification, logout,
// password change, renewal, the revocation list and session checks, the
// JWKS, tokens for service accounts) and auth.v1.AdminService (users,
// roles, sessions and service accounts, for holders of authd:admin).
//
// It is a thin adapter: each RPC checks its request, calls the session
// engine (package session) or the accounts (package accounts), and maps
// the answer and its errors to the wire, counting and logging as it goes.
// It holds no policy of its own. Who may call each method is declared in
// auth.proto and admin.proto and enforced by the server's guard.Guard, the
// same one Verify and Logout answer with:
//
//	svc := service.New(service.Config{Sessions: engine, Accounts: accts, Guard: g})
//	svc.Register(grpcServer) // a server whose interceptors apply g
//
// Package server assembles all of it into a running authd.
package service
