// Package tokens mints authd's tokens for tests without running authd: a
// fake clock, a key, a signer and a ready verifier (a guard.Verifier),
// tokens as authd mints them (access, fresh,
// refresh, expired; with roles and scopes), and a gRPC server over bufconn
// to call through.
//
// A service protected by a guard.Guard tests its rules with it
// alone; package authdtest builds a whole authd on top of it, for tests
// that need sessions, logout and revocation.
//
// Usage:
//
//	iss := tokens.New(t)
//	g := guard.New(iss.Verifier, guard.Config{Clock: iss.Clock, PublicHealthAndReflection: true})
//	srv, _ := myservice.NewServer(g) // its interceptors: interceptors.New(g)
//	conn := tokens.Serve(t, srv)
//	ctx := tokens.Bearer(ctx, iss.Access(t, "alice", "s1", tokens.WithRoles("admin")))
//	_, err := ordersv1.NewOrderServiceClient(conn).CancelOrder(ctx, req)
//	iss.Clock.Advance(tokens.AccessTTL)
//	_, err = ordersv1.NewOrderServiceClient(conn).CancelOrder(ctx, req)
//	tokens.WantRefusal(t, err, codes.Unauthenticated, wire.ReasonTokenExpired)
package tokens
