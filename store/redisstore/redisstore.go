package redisstore

import (
	"context"
	"fmt"
	"slices"
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

// Throttles keeps login-attempt counters in Redis hashes, one per key
// (fields count, inflight and last, in Unix seconds), each expiring after
// the window without attempts. Reservations run as one Lua script, so they
// are atomic across every instance.
type Throttles struct {
	client redis.UniversalClient
	prefix string
}

var _ store.Throttles = (*Throttles)(nil)

// NewThrottles returns counters stored under prefix (e.g. "authd:").
func NewThrottles(client redis.UniversalClient, prefix string) *Throttles {
	return &Throttles{client: client, prefix: prefix + "login-failures:"}
}

// reserve: ARGV = now, since, window (seconds), in-flight TTL (seconds),
// then free, base and max (milliseconds) per key. Returns the wait in
// milliseconds, 0 when the attempt was counted in flight. The wait is
// store.ThrottleLimit.Wait, written again in Lua.
var reserve = redis.NewScript(`
local now, since, window, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local wait = 0
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'count', 'inflight', 'last')
  local count, inflight, last = tonumber(v[1] or '0'), tonumber(v[2] or '0'), tonumber(v[3] or '0')
  if last < since then redis.call('DEL', key); count, inflight, last = 0, 0, 0 end
  if now - last >= ttl then inflight = 0 end
  local n = count + inflight
  local free, base, max = tonumber(ARGV[3*i+2]), tonumber(ARGV[3*i+3]), tonumber(ARGV[3*i+4])
  if n >= free then
    local d = base
    local j = free
    while j < n and d < max do d = d * 2; j = j + 1 end
    if d > max then d = max end
    local w = last * 1000 + d - now * 1000
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'inflight', 'last')
  local inflight, last = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if now - last >= ttl then inflight = 0 end
  redis.call('HSET', key, 'inflight', inflight + 1, 'last', now)
  if not redis.call('HGET', key, 'count') then redis.call('HSET', key, 'count', 0) end
  redis.call('EXPIRE', key, window)
end
return 0
`)

// finish: ARGV = now, failed (1/0), then per key 1 when it is to be
// cleared. The reservation just before set the key's expiry.
var finish = redis.NewScript(`
local now, failed = tonumber(ARGV[1]), ARGV[2] == '1'
for i, key in ipairs(KEYS) do
  if ARGV[2+i] == '1' then
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 then
    local inflight = tonumber(redis.call('HGET', key, 'inflight') or '0')
    if inflight > 0 then redis.call('HSET', key, 'inflight', inflight - 1) end
    if failed then
      redis.call('HINCRBY', key, 'count', 1)
      redis.call('HSET', key, 'last', now)
    end
  end
end
return 1
`)

// ReserveLoginAttempt implements store.Throttles.
func (t *Throttles) ReserveLoginAttempt(ctx context.Context, limits []store.ThrottleLimit, now, since time.Time) (time.Duration, error) {
	keys := make([]string, len(limits))
	args := []any{now.Unix(), since.Unix(), int64(now.Sub(since)/time.Second) + 1, int64(store.InFlightTTL / time.Second)}
	for i, l := range limits {
		keys[i] = t.prefix + l.Key
		args = append(args, l.Free, l.Base.Milliseconds(), l.Max.Milliseconds())
	}
	ms, err := reserve.Run(ctx, t.client, keys, args...).Int64()
	if err != nil {
		return 0, fmt.Errorf("reserve login attempt: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// FinishLoginAttempt implements store.Throttles.
func (t *Throttles) FinishLoginAttempt(ctx context.Context, keys []string, failed bool, clear []string, now time.Time) error {
	full := make([]string, len(keys))
	failedArg := "0"
	if failed {
		failedArg = "1"
	}
	args := []any{now.Unix(), failedArg}
	for i, k := range keys {
		full[i] = t.prefix + k
		cleared := "0"
		if slices.Contains(clear, k) {
			cleared = "1"
		}
		args = append(args, cleared)
	}
	for _, k := range clear {
		if !slices.Contains(keys, k) {
			full = append(full, t.prefix+k)
			args = append(args, "1")
		}
	}
	if err := finish.Run(ctx, t.client, full, args...).Err(); err != nil {
		return fmt.Errorf("finish login attempt: %w", err)
	}
	return nil
}
