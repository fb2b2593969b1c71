// Package wire is authd's contract on the wire: the metadata keys, the
// google.rpc.ErrorInfo domain and reasons that callers branch on, and the
// one mapping of authd's errors to gRPC statuses.
//
// Servers return the sentinel errors below (wrapped with %w as they like)
// and convert them once, at the edge, with StatusError; clients read the
// reason back with Reason. The package is a leaf: the interceptors, the
// client and authd's service all import it, and it imports none of them.
//
//	if wire.Reason(err) == wire.ReasonTokenExpired {
//		// refresh, then retry once
//	}
package wire
