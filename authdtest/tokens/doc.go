// Package tokens mints authd's tokens for tests without running authd: a
// fake clock, a key, a signer and a ready verifier (an
// interceptors.Verifier), tokens as authd mints them (access, fresh,
// refresh, expired; with roles and scopes), and a gRPC server over bufconn
// to call through.
//
// A service protected by package interceptors tests its rules with it
// alone; package authdtest builds a whole authd on top of it, for tests
// that need sessions, logout and revocation.
//
// Usage:
//
//	iss := tokens.New(t)
//	srv, _ := myservice.NewServer(iss.Verifier, iss.Clock)
//	conn := tokens.Serve(t, srv)
//	ctx := tokens.Bearer(ctx, iss.Access(t, "alice", "s1", tokens.WithRoles("admin")))
//	_, err := ordersv1.NewOrderServiceClient(conn).CancelOrder(ctx, req)
//	iss.Clock.Advance(tokens.AccessTTL)
//	_, err = ordersv1.NewOrderServiceClient(conn).CancelOrder(ctx, req)
//	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)
package tokens
