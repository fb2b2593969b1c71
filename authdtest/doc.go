// Package authdtest runs a complete authd in the test process, over bufconn,
// for the tests of services that verify its tokens: a SQLite store in a
// temporary directory, an Ed25519 key (or an HS256 secret), a fake clock
// and the real AuthService, so that logins, logout, revocation, renewal and
// JWKS behave as in production while nothing leaves the process.
//
// Tests that need tokens but no sessions use package
// github.com/authd-dev/authd/authdtest/tokens alone; its helpers (Bearer,
// WantRefusal, Serve, Start) serve tests of both kinds.
//
// Usage:
//
//	env := authdtest.New(t)
//	env.AddUser(t, "alice", "correct horse battery")
//	login := env.Login(t, "alice", "correct horse battery")
//	g, err := protect.New(ctx, env.Conn, protect.Config{Guard: guard.Config{Clock: env.Clock}}) // the service under test verifies with this authd
//	…
//	ctx := tokens.Bearer(ctx, login.GetAccessToken())
package authdtest
