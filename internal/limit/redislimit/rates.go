package redislimit

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/limit"
)

// Rates keeps each service's token bucket in Redis, shared by every node on
// it: redis_rate's GCRA, one script call (one round trip) per check, which
// reads Redis's clock so that the nodes' clocks do not matter. It
// implements rpc.Limiter. When Redis does not answer in time, the service's
// bucket on this node decides (see the package comment).
//
// A check that is refused takes nothing, as on one node. A request that
// fails after its check gives its tokens back through undo: redis_rate has
// no refund, and a negative AllowN would not do (it leaves the state alone
// when the refund empties the bucket's debt), so undo runs a script of its
// own on redis_rate's state, the time at which the bucket would be full
// again (its "TAT"): moved back by what the request took, never before
// now. That is exactly what the request had added, whatever others took
// since, so no bucket is ever fuller than without the request. It costs a
// round trip on failed requests only; a refund that Redis does not answer
// in time is lost (logged at debug), and the bucket refills at its rate.
//
// GCRA keeps its state in seconds since 2017 as a double, whose steps are
// 60 ns at today's dates: a rate holds to within a percent up to about
// 100,000 notifications per second per service, and loosens far above.
type Rates struct {
	rdb    redis.UniversalClient
	gcra   *redis_rate.Limiter
	prefix string
	local  *limit.Rates
	fo     *failOpen
	o      Options
}

// NewRates returns buckets in the Redis of rdb under o.Prefix.
func NewRates(rdb redis.UniversalClient, o Options) *Rates {
	o.setDefaults()
	return &Rates{
		rdb:    rdb,
		gcra:   redis_rate.NewLimiter(unprefixed{rdb}),
		prefix: o.Prefix,
		local:  limit.NewRates(),
		fo:     newFailOpen("notify_rate", o),
		o:      o,
	}
}

// Take takes n tokens from service's bucket, shaped r, or none and reports
// false with the time until n would pass (math.MaxInt64 for n above the
// burst, which never passes). undo gives them back, for a request that then
// fails.
func (rs *Rates) Take(ctx context.Context, service string, r limit.Rate, n int) (undo func(), wait time.Duration, ok bool) {
	if n > r.Burst {
		return nil, math.MaxInt64, false
	}
	if rs.fo.skipping() {
		return rs.local.Take(ctx, service, r, n)
	}
	key, lim := rateKey(rs.prefix, service), gcraLimit(r)
	res, err := bound.Call(ctx, rs.fo.bound, func(ctx context.Context) (*redis_rate.Result, error) {
		return rs.gcra.AllowN(ctx, key, lim, n)
	})
	if err != nil {
		rs.fo.failed(ctx, err)
		return rs.local.Take(ctx, service, r, n)
	}
	if res.Allowed == 0 {
		return nil, res.RetryAfter, false
	}
	return func() { rs.refund(key, lim, n) }, 0, true
}

// refund gives n back to key's bucket (see Rates).
func (rs *Rates) refund(key string, lim redis_rate.Limit, n int) {
	if rs.fo.down() {
		return
	}
	ctx := context.Background()
	_, err := bound.Call(ctx, rs.fo.bound, func(ctx context.Context) (any, error) {
		return nil, refundScript.Run(ctx, rs.rdb, []string{key}, lim.Rate, lim.Period.Seconds(), n).Err()
	})
	if err != nil && rs.o.Logger.Enabled(ctx, slog.LevelDebug) {
		rs.o.Logger.DebugContext(ctx, "notification rate refund lost", "key", key, "count", n, "err", err)
	}
}

// gcraLimit is r in redis_rate's terms, whose rate is a whole number per
// period: a whole rate per second as it is, any other as one per
// 1/PerSecond.
func gcraLimit(r limit.Rate) redis_rate.Limit {
	if r.PerSecond >= 1 && r.PerSecond == math.Trunc(r.PerSecond) && r.PerSecond <= math.MaxInt32 {
		return redis_rate.Limit{Rate: int(r.PerSecond), Period: time.Second, Burst: r.Burst}
	}
	return redis_rate.Limit{Rate: 1, Period: time.Duration(min(float64(time.Second)/r.PerSecond, math.MaxInt64)), Burst: r.Burst}
}

// refundScript moves redis_rate's state of KEYS[1] back by ARGV[3] tokens
// of a limit of ARGV[1] per ARGV[2] seconds, never before now: the
// emission interval, the epoch and the clock are redis_rate's own (its
// lua.go, v10.0.1). A full bucket has no key.
var refundScript = redis.NewScript(`
local emission_interval = ARGV[2] / ARGV[1]
local tat = redis.call("GET", KEYS[1])
if not tat then
  return 0
end
local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)
local new_tat = tonumber(tat) - emission_interval * tonumber(ARGV[3])
if new_tat <= now then
  redis.call("DEL", KEYS[1])
else
  redis.call("SET", KEYS[1], new_tat, "EX", math.ceil(new_tat - now))
end
return 1
`)
