// Package redisstore keeps the login-throttling counters that several authd
// instances share in Redis (go-redis/v9). The revocation feed they also
// share through Redis is package revocation/redisfeed.
package redisstore
