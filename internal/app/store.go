package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redisconn"
	"github.com/heraldhq/herald/internal/resume"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

// publisher hands entries to the streams that show them: the hub on one
// node, the bus in a cluster.
type publisher interface{ Publish([]notify.Entry) }

// openStore opens the configured store with the hub and, in a cluster, the
// bus. It returns who receives read events (MarkInbox) and the closers of
// what it opened, in opening order.
func (a *App) openStore(cfg config.Config, log *slog.Logger) (publisher, []func() error, error) {
	if cfg.Store != config.StoreRedis {
		if cfg.RedisURL != config.DefaultRedisURL {
			log.Warn("--redis-url is set but not used: --store is " + cfg.Store + "; add --store=redis to use Redis, or unset --redis-url (HERALD_REDIS_URL)")
		}
		a.storeName = "embedded " + cfg.DataDir
		a.hub = hub.New(hub.Options{Registerer: a.reg, Logger: log})
		st, err := embedded.Open(cfg.DataDir, embedded.Options{
			Logger:            log.With("component", "store"),
			OnCommit:          a.hub.Publish,
			RetentionCount:    cfg.RetentionCount,
			RetentionAge:      cfg.RetentionAge,
			IdempotencyWindow: cfg.IdempotencyWindow,
			ChannelHistory:    cfg.ChannelHistory,
			ChannelHistoryAge: cfg.ChannelHistoryAge,
			MemTableSize:      cfg.StoreMemTableMB << 20,
			Registerer:        a.reg,
		})
		if errors.Is(err, embedded.ErrLocked) {
			return nil, nil, &wrapped{err: err, msg: fmt.Sprintf(
				"another herald process holds the data directory %s (lock %s): stop it or pass a different --data-dir (HERALD_DATA_DIR)",
				cfg.DataDir, filepath.Join(cfg.DataDir, "LOCK"))}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("app: open store in %s: %w", cfg.DataDir, err)
		}
		a.store = store.Bounded(st, cfg.StoreTimeout, "store")
		return a.hub, []func() error{st.Close}, nil
	}

	// One client for the store and the bus; the bus's subscriber takes a
	// connection of its own from it.
	rc := cfg.Redis()
	// go-redis logs through a process-global logger, its own stderr line
	// format by default. It is set here, in the wiring, because there is one
	// App, and so one logger, per herald process; the bus's client logs
	// through it too.
	redis.SetLogger(redisstore.NewClientLogger(log.With("component", "redis")))
	rdb, err := redisconn.New(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("app: %w", err)
	}
	a.rdb = rdb
	a.redisAddr = rc.Where() // host:port of the server or the seeds, never the password
	a.storeName = rc.Describe()
	closers := []func() error{a.rdb.Close}
	a.redisDown = probeRedis(context.Background(), a.rdb, a.redisAddr, log.With("component", "store")) != nil

	// The hub tells the bus which users have streams here; the bus hands
	// the hub what other nodes commit. Nothing subscribes before New
	// returns, so the hooks never see a nil bus.
	var b *bus.Bus
	a.hub = hub.New(hub.Options{
		Registerer: a.reg,
		Logger:     log,
		OnFirst:    func(u notify.UserID) { b.Watch(u) },
		OnLast:     func(u notify.UserID) { b.Unwatch(u) },
	})
	b = bus.New(a.rdb, cfg.RedisPrefix, a.hub, log.With("component", "bus"), a.reg)
	a.bus = b
	closers = append(closers, b.Close)

	// Every commit, this node's included, reaches the streams through the
	// bus, so a user's entries come to the hub by one path, in order.
	st, err := redisstore.Open(context.Background(), redisstore.Options{
		Client:            a.rdb,
		Prefix:            cfg.RedisPrefix,
		OnCommit:          b.Publish,
		RetentionCount:    cfg.RetentionCount,
		RetentionAge:      cfg.RetentionAge,
		IdempotencyWindow: cfg.IdempotencyWindow,
		ChannelHistory:    cfg.ChannelHistory,
		ChannelHistoryAge: cfg.ChannelHistoryAge,
		WaitReplicas:      cfg.RedisWaitReplicas,
		WaitTimeout:       cfg.RedisWaitTimeout,
		Layout:            redisstore.Layout(cfg.RedisLayout),
		Logger:            log.With("component", "store"),
		Registerer:        a.reg,
	})
	if err != nil {
		return nil, closers, fmt.Errorf("app: open redis store: %w", err)
	}
	a.store = store.Bounded(st, cfg.StoreTimeout, "redis")
	bounded := a.store
	// As many as a stream remembers of what it sent, so that a cursor a
	// failover made reused is noticed among them.
	b.RecoverWith(func(ctx context.Context, u notify.UserID) ([]notify.Entry, error) {
		return store.Recent(ctx, bounded, u, resume.Remembered)
	})
	return b, append(closers, st.Close), nil
}

// waitLive is what a new stream waits for before it answers: on one node
// nothing (the store's hook feeds the hub directly); in a cluster, the bus's
// subscription to the user's channel.
func (a *App) waitLive() func(context.Context, notify.UserID) error {
	if a.bus == nil {
		return nil
	}
	return a.bus.WaitLive
}
