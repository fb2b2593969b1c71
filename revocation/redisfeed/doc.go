// Package redisfeed announces revoked sessions over Redis pub/sub, so that
// every authd instance and every consumer's revocation.Poller hears of a
// revocation at once instead of at its next check. It is a separate package
// so that services which do not use Redis do not link its client.
//
// The store stays the truth: a lost message only delays a listener until
// its next poll or cache expiry.
package redisfeed
