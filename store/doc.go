// Package store declares what authd keeps — users and service accounts,
// sessions and their revocations, login-attempt counters, sealed signing
// keys — as the interfaces its backends implement. The backends live in
// store/sqlite and store/postgres (and store/redisstore for counters);
// store/storetest is the conformance suite every backend passes.
package store
