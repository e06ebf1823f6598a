package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
)

// redisProbeTimeout bounds one PING of the start probe and of the wait for
// Redis after it: a Redis that does not answer in this time is down for
// the purpose of taking traffic.
const redisProbeTimeout = 2 * time.Second

// redisRetryEvery is how often a node that started without Redis asks
// again, to log when it becomes ready.
const redisRetryEvery = time.Second

// probeRedis pings Redis once, bounded, and logs at error when it does not
// answer. The node starts anyway: it stays unready (GET /readyz answers 503
// and names Redis) and becomes ready as soon as Redis answers, with no
// restart. Exiting instead would put it in an orchestrator's crash-loop
// backoff, which in Kubernetes grows to five minutes, and so keep the node
// down for minutes after Redis is back; and a Redis restart would crash
// every node at once.
func probeRedis(ctx context.Context, rdb redis.UniversalClient, addr string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, redisProbeTimeout)
	defer cancel()
	err := rdb.Ping(ctx).Err()
	if err != nil {
		log.ErrorContext(ctx, "redis unreachable at "+addr+": "+err.Error()+"; starting anyway, not ready (GET /readyz) until Redis answers",
			"redis_addr", addr, "err", err)
	}
	return err
}

// awaitRedis pings Redis until it answers or ctx ends, and logs when it
// does: the counterpart of probeRedis's error line.
func awaitRedis(ctx context.Context, rdb redis.UniversalClient, addr string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, redisProbeTimeout)
		err := rdb.Ping(pctx).Err()
		cancel()
		if err == nil {
			log.InfoContext(ctx, "redis reachable at "+addr+"; ready", "redis_addr", addr)
			return
		}
	}
}

// storeCause is what /readyz shows of a store failure: the cause a store
// named itself with (notify.UnavailableError), without the wrapping that
// says only "store: ready: temporarily unavailable".
func storeCause(err error) string {
	var ue *notify.UnavailableError
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
