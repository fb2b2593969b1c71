// Package revocation tells whether a verified token's session has been
// revoked (logout, password change, refresh-token reuse, a disabled user).
//
// A Checker answers the question; the interceptors ask it after every
// verification (interceptors.WithRevocations) and fail the call closed
// with Unavailable when it cannot answer. Two checkers ship here:
//
//   - Cache is authd's own: it reads the sessions in authd's store and
//     remembers each answer for a second, forgetting at once the sessions
//     this process revokes (or hears of through the feed, package
//     revocation/redisfeed).
//   - Poller is for services that verify with authd's JWKS: it keeps the
//     list of revoked sessions by polling AuthService.ListRevocations, and
//     fails closed when the list grows stale.
//
// Usage in a service verifying with the JWKS:
//
//	poller := revocation.NewPoller(authdConn)
//	if err := poller.Poll(ctx); err != nil { // fail fast at startup
//		return err
//	}
//	go poller.Run(ctx, func(err error) { slog.Warn("revocation poll failed", "err", err) })
//	authn := interceptors.New(verifier, interceptors.WithRevocations(poller))
package revocation
