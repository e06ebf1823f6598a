package app

import (
	"log/slog"

	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/limit/redislimit"
	"github.com/heraldhq/herald/internal/rpc"
)

// clusterLimits returns where the limits are kept: with the Redis store,
// in Redis, so that --notify-rate and --max-streams-per-user hold across
// every node on it; with the embedded store, on this node (nil buckets, no
// ledger). The ledger's refresh loop runs in Run.
func (a *App) clusterLimits(cfg config.Config, log *slog.Logger) (rpc.Limiter, []limit.StreamsOption) {
	if a.rdb == nil {
		return nil, nil
	}
	o := redislimit.Options{
		Prefix:     cfg.RedisPrefix,
		Registerer: a.reg,
		Logger:     log.With("component", "limit"),
	}
	a.leases = redislimit.NewLeases(a.rdb, o)
	return redislimit.NewRates(a.rdb, o), []limit.StreamsOption{limit.WithLedger(a.leases)}
}
