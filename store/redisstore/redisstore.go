// Package redisstore keeps the login-throttling counters that several authd
// instances share in Redis (go-redis/v9). The revocation feed they also
// share through Redis is package revocation/redisfeed.
package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authd-dev/authd/store"
)

// Open connects to url (redis://[user:password@]host:port/db) and checks
// the connection.
func Open(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	client := redis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis: %w", err)
	}
	return client, nil
}

// Throttles keeps login-failure counters in Redis hashes, one per key
// (fields count and last), each expiring after the window without
// failures.
type Throttles struct {
	client redis.UniversalClient
	prefix string
}

var _ store.Throttles = (*Throttles)(nil)

// NewThrottles returns counters stored under prefix (e.g. "authd:").
func NewThrottles(client redis.UniversalClient, prefix string) *Throttles {
	return &Throttles{client: client, prefix: prefix + "login-failures:"}
}

// recordFailure restarts a counter idle since before ARGV[2], counts one
// failure at ARGV[1], and lets the counter expire ARGV[3] seconds later.
var recordFailure = redis.NewScript(`
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if last < tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`)

// LoginFailures implements store.Throttles.
func (t *Throttles) LoginFailures(ctx context.Context, keys []string, since time.Time) (map[string]store.Failures, error) {
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err := t.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = p.HMGet(ctx, t.prefix+key, "count", "last")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("login failures: %w", err)
	}
	out := make(map[string]store.Failures, len(keys))
	for i, cmd := range cmds {
		vals := cmd.Val()
		count, err1 := strconv.Atoi(fmt.Sprint(vals[0]))
		last, err2 := strconv.ParseInt(fmt.Sprint(vals[1]), 10, 64)
		if err1 != nil || err2 != nil || last < since.Unix() {
			continue // absent (nil values) or idle
		}
		out[keys[i]] = store.Failures{Count: count, Last: time.Unix(last, 0).UTC()}
	}
	return out, nil
}

// RecordLoginFailure implements store.Throttles.
func (t *Throttles) RecordLoginFailure(ctx context.Context, keys []string, now, since time.Time) error {
	ttl := int64(now.Sub(since)/time.Second) + 1
	_, err := t.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, key := range keys {
			recordFailure.Eval(ctx, p, []string{t.prefix + key}, now.Unix(), since.Unix(), ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return nil
}

// ResetLoginFailures implements store.Throttles.
func (t *Throttles) ResetLoginFailures(ctx context.Context, keys []string) error {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = t.prefix + k
	}
	if err := t.client.Del(ctx, full...).Err(); err != nil {
		return fmt.Errorf("reset login failures: %w", err)
	}
	return nil
}
