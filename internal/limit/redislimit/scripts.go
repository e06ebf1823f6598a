package redislimit

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// acquireScript admits a stream of one user: KEYS[1] the user's streams,
// ARGV max, the lease (ms) and the member. It drops lapsed leases, and
// adds the member unless max are left; 1 if it did, 0 if not. The key
// expires with its last lease, so a user who left leaves nothing behind.
var acquireScript = redis.NewScript(`
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`)

// refreshScript renews one user's streams of one node: KEYS[1] the user's
// streams, KEYS[2] when the user was last seen, ARGV the lease (ms) and
// the members. A member whose lease lapsed is added back: it is open, so
// it counts. The user is seen now, so that a node that dies leaves a last
// seen time no older than its last refresh.
var refreshScript = redis.NewScript(`
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local expiry = now + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call("ZADD", KEYS[1], expiry, ARGV[i])
end
redis.call("PEXPIRE", KEYS[1], ARGV[1])
if now > tonumber(redis.call("GET", KEYS[2]) or "0") then
  redis.call("SET", KEYS[2], now)
end
return #ARGV - 1
`)

// releaseScript ends one stream: KEYS[1] the user's streams, KEYS[2] when
// the user was last seen, ARGV[1] the member. The user is seen now: a
// presence read that finds no lease finds the time of the last close.
var releaseScript = redis.NewScript(`
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if now > tonumber(redis.call("GET", KEYS[2]) or "0") then
  redis.call("SET", KEYS[2], now)
end
return redis.call("ZREM", KEYS[1], ARGV[1])
`)

// presenceScript reads one user's presence: KEYS[1] the user's streams,
// KEYS[2] when the user was last seen. It returns how many leases have not
// lapsed by Redis's clock and the last seen time (ms), nil if none.
var presenceScript = redis.NewScript(`
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return {redis.call("ZCOUNT", KEYS[1], "(" .. now, "+inf"), redis.call("GET", KEYS[2])}
`)

// call is one script call of a pipeline.
type call struct {
	keys []string
	args []any
	cmd  *redis.Cmd
}

// runAll runs calls of script in one pipeline with EVALSHA, then, in a
// second, with EVAL those that Redis did not know (it restarted, or never
// saw the script), as the store does: NOSCRIPT ran nothing. It returns the
// first error.
func runAll(ctx context.Context, rdb redis.UniversalClient, script *redis.Script, calls []call) error {
	pipe := rdb.Pipeline()
	for i := range calls {
		calls[i].cmd = script.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		pipe = rdb.Pipeline()
		n := 0
		for i := range calls {
			if redis.HasErrorPrefix(calls[i].cmd.Err(), "NOSCRIPT") {
				calls[i].cmd = script.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
				n++
			}
		}
		if n > 0 {
			_, _ = pipe.Exec(ctx)
		}
	}
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
