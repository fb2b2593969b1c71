// Package client is the Go client side of authd: it logs in, attaches the
// access token to every call, keeps it alive and tells the application when
// the user has to log in again.
//
// A Client gives grpc.DialOptions for the connections to the services it
// calls (authd's own included). Through them it
//
//   - attaches `authorization: Bearer <access token>` (PerRPCCredentials,
//     which require a secure transport unless Config.Insecure is set);
//   - adopts the renewed token a service sends in the x-access-token response
//     header (sliding sessions, guard.Config.Renewer), when it is for
//     the same user and session and lives longer;
//   - refreshes proactively when the access token is within the refresh
//     margin of its exp (read from the token, never trusted for anything
//     but timing);
//   - refreshes reactively when a call fails with TOKEN_EXPIRED, then retries
//     that call exactly once (a stream refused at its first Recv is
//     re-opened once);
//   - calls OnLoginRequired when only a new login can help: FRESH_TOKEN_REQUIRED,
//     TOKEN_REVOKED, or a refresh token authd no longer accepts;
//   - calls OnStepUpRequired when a method wants a second factor, or a more
//     recent one, than the token shows (STEP_UP_REQUIRED, whose ErrorInfo
//     names acr_values and max_age). Neither a refresh nor a retry follows:
//     the application asks the user for a code, calls StepUp, which raises
//     the session and adopts its fresh access token, and calls again.
//
// A user with a second factor logs in in two steps: Login returns an error
// wrapping ErrSecondFactorRequired, and LoginSecondFactor with a TOTPCode or
// a RecoveryCode completes the login.
//
// With Config.DPoP the tokens are bound to a key only the client holds
// (DPoP, RFC 9449), so that a copy of them is of no use without it: the
// client generates an ES256 key and keeps it in the TokenStore with the
// tokens (Tokens.DPoPKey; a session restored from the store uses it), signs
// a proof with Login, LoginSecondFactor, Refresh, StepUp and Logout, so
// that authd binds the tokens it issues, and with every call: bound tokens
// travel as `authorization: DPoP <token>` beside a proof in `dpop` for
// that call's method and authority. When a server asks for a nonce
// (DPOP_NONCE_REQUIRED) the call is retried once with a proof carrying
// it, and the nonce is kept for the next calls to the same authority.
// Tokens authd did not bind still travel as Bearer tokens.
// CredentialsConfig.DPoP does the same for a service account; over mutual
// TLS its token is bound to the client certificate instead, and the
// services must be dialled with the same certificate.
//
// Refreshes are single-flight: however many calls find the token expired at
// once, one Refresh RPC is made and all of them use its result; each call
// waits for it at most until its own deadline. Refresh-token rotation is
// honoured: a new refresh token replaces the old one.
package client
