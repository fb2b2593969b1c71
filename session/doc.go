// Package session is authd's session engine: it opens a session when an
// account's password (or a service account's secret) has been checked,
// rotates its refresh tokens with reuse detection and a grace window,
// renews its access tokens, revokes it, and mints its tokens, over the
// store's session table.
//
// It owns issuance the way Dex's grants and fosite's token handlers do:
// the RPC layer (package service) authenticates the caller (packages guard
// and accounts), calls one method here, and maps the result to the wire.
//
//	engine, err := session.New(st, session.Config{Signer: signer})
//	tokens, err := engine.Open(ctx, user, session.Proof{})// after accounts.Authenticate
//	tokens, err = engine.Refresh(ctx, claims)       // claims of a verified refresh token
//
// The engine is also authd's guard.Revocations (Revoked), and the
// accounts' way of ending sessions (Revoke, RevokeUser).
package session
