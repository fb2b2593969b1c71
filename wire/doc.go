// Package wire is authd's contract on the wire: the metadata keys and
// header names, the google.rpc.ErrorInfo domain and the reasons callers
// branch on, and Error, the refusal every domain declares its errors with.
//
// A domain declares each refusal beside the code that returns it
// (token.ErrExpired, guard.ErrRevoked, session.ErrSessionCap, …); servers
// wrap them with %w as they like and convert once, at the edge, with
// StatusError; clients read the reason back with Reason and never compare
// messages. wire imports none of the packages that use it.
//
//	if wire.Reason(err) == wire.ReasonTokenExpired {
//		// refresh, then retry once
//	}
package wire
