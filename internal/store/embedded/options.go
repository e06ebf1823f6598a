package embedded

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Defaults for the zero values of Options.
const (
	DefaultRetentionCount    = 1000
	DefaultRetentionAge      = 30 * 24 * time.Hour
	DefaultIdempotencyWindow = 24 * time.Hour
	DefaultMaxBatch          = 4096
	DefaultSweepInterval     = time.Minute
	DefaultReadLimit         = 1000
	DefaultCacheSize         = 8192
)

// Options configure a Store. Zero values mean the documented defaults.
type Options struct {
	// Logger receives the store's own logs; Pebble's informational logs go
	// to it at debug level. Default: discard.
	Logger *slog.Logger
	// OnCommit receives entries once durable, in cursor order per user,
	// from the writer goroutine: it must not block. It may keep the slice.
	OnCommit store.CommitHook
	// RetentionCount is how many entries each user keeps (default 1000).
	RetentionCount int
	// RetentionAge is how long entries and bodies are kept (default 30 days).
	RetentionAge time.Duration
	// IdempotencyWindow is how long an idempotency key is remembered
	// (default 24h).
	IdempotencyWindow time.Duration
	// ChannelHistory is how many events each channel keeps (default
	// store.DefaultChannelHistory).
	ChannelHistory int
	// ChannelHistoryAge is how long a channel's events are kept (default
	// store.DefaultChannelHistoryAge); older ones are gone for readers at
	// once and deleted by the next publish to the channel or sweep.
	ChannelHistoryAge time.Duration
	// MaxBatch caps the entries of one group commit (default 4096). A single
	// Append larger than that is committed alone, never split.
	MaxBatch int
	// SweepInterval is how often retention by age (of inboxes and
	// channels) and the purge of expired notifications and idempotency
	// records run (default 1 minute).
	SweepInterval time.Duration
	// CacheSize bounds the decoded notifications kept for replay
	// (default 8192).
	CacheSize int
	// MemTableSize is Pebble's memtable size in bytes (default
	// DefaultMemTableSize); see DefaultMemTableSize for the trade.
	MemTableSize int
	// Registerer, if set, receives the store's metrics.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// FS is the file system Pebble uses (default the OS's); tests inject
	// failures through it.
	FS vfs.FS

	// warnLimit rate-limits the warnings of a repeating disk fault.
	warnLimit *warnLimiter
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
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
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MemTableSize <= 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.warnLimit == nil {
		o.warnLimit = newWarnLimiter(warnEvery, time.Now)
	}
	return o
}
