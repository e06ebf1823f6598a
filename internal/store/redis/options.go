package redisstore

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Defaults for the zero values of Options, the same as the embedded store's.
const (
	DefaultURL               = "redis://127.0.0.1:6379/0"
	DefaultPrefix            = "herald:"
	DefaultRetentionCount    = 1000
	DefaultRetentionAge      = 30 * 24 * time.Hour
	DefaultIdempotencyWindow = 24 * time.Hour
	DefaultMaxBatch          = 4096
	DefaultReadLimit         = 1000
	DefaultPageLimit         = 100
	MaxPageLimit             = 10000
	DefaultWaitTimeout       = time.Second
)

// Options configure a Store. Zero values mean the documented defaults.
type Options struct {
	// Client is the Redis connection (a *redis.Client or a
	// *redis.ClusterClient). The caller owns it: Close leaves it open.
	Client redis.UniversalClient
	// URL is used when Client is nil (default DefaultURL); the store then
	// owns its client and closes it on Close. With Cluster set it is a
	// cluster URL (redis://host:port?addr=host2:port2), see
	// redis.ParseClusterURL.
	URL     string
	Cluster bool
	// Prefix starts every key (default "herald:"); it may not contain '{'
	// or '}', which would change the keys' hash slots.
	Prefix string
	// OnCommit receives entries once stored, in cursor order per user,
	// from the writer goroutine: it must not block. It may keep the slice.
	OnCommit store.CommitHook
	// RetentionCount is how many entries each user keeps (default 1000).
	RetentionCount int
	// RetentionAge is how long entries are kept (default 30 days).
	RetentionAge time.Duration
	// IdempotencyWindow is how long an idempotency key is remembered
	// (default 24h).
	IdempotencyWindow time.Duration
	// ChannelHistory is how many events each channel keeps (default
	// store.DefaultChannelHistory).
	ChannelHistory int
	// ChannelHistoryAge is how long a channel's events are kept (default
	// store.DefaultChannelHistoryAge): older ones are gone for readers at
	// once, and an idle channel's keys expire a little after its newest
	// event aged out.
	ChannelHistoryAge time.Duration
	// MaxBatch caps the entries of one group (default 4096). A single
	// Append larger than that goes alone, never split.
	MaxBatch int
	// WaitReplicas, when above 0, makes every write wait until that many
	// replicas confirm it (Redis WAIT), up to WaitTimeout (default 1s);
	// fewer fail the call with ErrUnavailable (ErrNotReplicated).
	WaitReplicas int
	WaitTimeout  time.Duration
	// Layout is the layout of the inboxes this store creates (default
	// LayoutV2); it reads and writes existing inboxes of either, and in
	// LayoutV2 converts a v1 inbox on its first append (layout.go).
	Layout Layout
	// Logger receives the store's logs. Default: discard.
	Logger *slog.Logger
	// Registerer, if set, receives the store's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.OnCommit == nil {
		o.OnCommit = func([]notify.Entry) {}
	}
	if o.RetentionCount <= 0 {
		o.RetentionCount = DefaultRetentionCount
	}
	if o.RetentionAge <= 0 {
		o.RetentionAge = DefaultRetentionAge
	}
	if o.IdempotencyWindow <= 0 {
		o.IdempotencyWindow = DefaultIdempotencyWindow
	}
	if o.ChannelHistory <= 0 {
		o.ChannelHistory = store.DefaultChannelHistory
	}
	if o.ChannelHistoryAge <= 0 {
		o.ChannelHistoryAge = store.DefaultChannelHistoryAge
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	if o.Layout == "" {
		o.Layout = LayoutV2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultPageLimit
	case limit > MaxPageLimit:
		return MaxPageLimit
	default:
		return limit
	}
}
