// Package revocation tells a service that verifies authd's tokens with the
// JWKS which sessions authd has ended (logout, password change,
// refresh-token reuse, a disabled user), and which it does not know.
//
// A Poller keeps the list of revoked sessions by polling
// AuthService.ListRevocations, asks AuthService.CheckSession about each
// session it meets for the first time, and fails closed when it cannot
// answer. It is the guard.Revocations of such a service; protect.New sets
// one up. By hand:
//
//	poller := revocation.NewPoller(authdConn, revocation.Config{})
//	if err := poller.Poll(ctx); err != nil { // fail fast at startup
//		return err
//	}
//	go poller.Run(ctx, func(err error) { slog.Warn("revocation poll failed", "err", err) })
//	g := guard.New(verifier, guard.Config{Revocations: poller})
//
// Package revocation/redisfeed hears of revocations as they happen; wire
// it to Poller.Nudge.
package revocation
