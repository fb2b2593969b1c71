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

// Throttles keeps login-attempt counters in Redis: per key a hash (fields
// count and last, in Unix seconds) expiring after the window without
// attempts, and a sorted set of the attempts in flight scored by their own
// expiry, so each stops counting InFlightTTL after it was reserved
// whatever else the key does. Reservations run as one Lua script, so they
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

// keys are the hash and the set of attempts in flight of each counter key,
// in pairs.
func (t *Throttles) keys(keys []string) []string {
	full := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		full = append(full, t.prefix+k, t.prefix+k+":in-flight")
	}
	return full
}

// reserve: KEYS = hash and in-flight set per key; ARGV = now, since,
// window, in-flight TTL (seconds), the attempt's id, then free, base and
// max (milliseconds) and in-flight bound per key. Returns {wait in
// milliseconds, 1 when attempts in flight refuse it}; {0, 0} when the
// attempt was counted in flight. The answer is store.ThrottleLimit.Check
// and store.ThrottleWait.Worse, written again in Lua.
var reserve = redis.NewScript(`
local now, since, window, ttl, attempt = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local function wait(n, last, free, base, max)
  if n < free then return 0 end
  local d, j = base, free
  while j < n and d < max do d = d * 2; j = j + 1 end
  if d > max then d = max end
  local w = last * 1000 + d - now * 1000
  if w > 0 then return w end
  return 0
end
local failwait, inflightwait = 0, 0
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  local v = redis.call('HMGET', h, 'count', 'last')
  local count, last = tonumber(v[1] or '0'), tonumber(v[2] or '0')
  if last < since then redis.call('DEL', h); count, last = 0, 0 end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local inflight = redis.call('ZCARD', z)
  local a = 5 + 4*(i-1)
  local free, base, max, bound = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
  local w = wait(count, last, free, base, max)
  if w > failwait then failwait = w end
  if w == 0 then
    if (bound > 0 and inflight >= bound) or (bound <= 0 and wait(count + inflight, last, free, base, max) > 0) then
      inflightwait = 1
    end
  end
end
if failwait > 0 then return {failwait, 0} end
if inflightwait > 0 then return {0, 1} end
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  if not redis.call('HGET', h, 'count') then redis.call('HSET', h, 'count', 0) end
  redis.call('HSET', h, 'last', now)
  redis.call('EXPIRE', h, window)
  redis.call('ZADD', z, now + ttl, attempt)
  redis.call('EXPIRE', z, ttl)
end
return {0, 0}
`)

// finish: KEYS = hash and in-flight set per key; ARGV = now, failed (1/0),
// the attempt's id, then per key 1 when it is to be cleared. The
// reservation just before set the hash's expiry.
var finish = redis.NewScript(`
local now, failed, attempt = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3]
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2*i-1], KEYS[2*i]
  redis.call('ZREM', z, attempt)
  if ARGV[3+i] == '1' then
    redis.call('DEL', h)
  elseif failed and redis.call('EXISTS', h) == 1 then
    redis.call('HINCRBY', h, 'count', 1)
    redis.call('HSET', h, 'last', now)
  end
end
return 1
`)

// ReserveLoginAttempt implements store.Throttles.
func (t *Throttles) ReserveLoginAttempt(ctx context.Context, attempt string, limits []store.ThrottleLimit, now, since time.Time) (store.ThrottleWait, error) {
	keys := make([]string, len(limits))
	args := []any{now.Unix(), since.Unix(), int64(now.Sub(since)/time.Second) + 1, int64(store.InFlightTTL / time.Second), attempt}
	for i, l := range limits {
		keys[i] = l.Key
		args = append(args, l.Free, l.Base.Milliseconds(), l.Max.Milliseconds(), l.InFlight)
	}
	res, err := reserve.Run(ctx, t.client, t.keys(keys), args...).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("script answered %v", res)
	}
	if err != nil {
		return store.ThrottleWait{}, fmt.Errorf("reserve login attempt: %w", err)
	}
	if res[1] == 1 {
		return store.ThrottleWait{Wait: store.InFlightRetry, InFlight: true}, nil
	}
	return store.ThrottleWait{Wait: time.Duration(res[0]) * time.Millisecond}, nil
}

// FinishLoginAttempt implements store.Throttles.
func (t *Throttles) FinishLoginAttempt(ctx context.Context, attempt string, keys []string, failed bool, clear []string, now time.Time) error {
	all := slices.Clone(keys)
	for _, k := range clear {
		if !slices.Contains(all, k) {
			all = append(all, k)
		}
	}
	failedArg := "0"
	if failed {
		failedArg = "1"
	}
	args := []any{now.Unix(), failedArg, attempt}
	for _, k := range all {
		cleared := "0"
		if slices.Contains(clear, k) {
			cleared = "1"
		}
		args = append(args, cleared)
	}
	if err := finish.Run(ctx, t.client, t.keys(all), args...).Err(); err != nil {
		return fmt.Errorf("finish login attempt: %w", err)
	}
	return nil
}
