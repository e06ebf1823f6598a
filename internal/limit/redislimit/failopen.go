package redislimit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/promreg"
)

// Defaults of zero Options fields.
const (
	// DefaultTimeout bounds each check's wait for Redis.
	DefaultTimeout = 200 * time.Millisecond
	// DefaultLease is how long a stream counts without being refreshed.
	DefaultLease = 30 * time.Second
)

// skipFor is how long a node decides alone after Redis failed to answer.
const skipFor = time.Second

// logEvery is the least time between two fail-open log lines.
const logEvery = 10 * time.Second

// Options configure Rates and Leases. Zero values mean the defaults.
type Options struct {
	// Prefix starts every key: the deployment's --redis-prefix, without
	// '{' or '}'.
	Prefix string
	// Timeout bounds each check's wait for Redis (default 200 ms); past it
	// the node decides alone.
	Timeout time.Duration
	// Lease is how long a stream counts on the other nodes after its node
	// last refreshed it (default 30 s); a node refreshes its streams every
	// Lease/3, so a node that died frees its users' slots within Lease.
	Lease time.Duration
	// Registerer receives herald_limit_fail_open_total; nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Logger is told, at most once per 10 s, that a limit failed open.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// failOpen is what Rates and Leases share about a Redis that does not
// answer: the bound, the second of deciding alone, the counter and the log.
type failOpen struct {
	limit   string // the label: "notify_rate" or "streams"
	timeout time.Duration
	bound   *bound.Bound // of timeout
	count   prometheus.Counter
	log     *slog.Logger
	logs    *rate.Limiter
	dropped atomic.Int64
	skip    atomic.Int64 // until when (Unix ns) Redis is not asked
}

func newFailOpen(limit string, o Options) *failOpen {
	vec := promreg.Register(o.Registerer, o.Logger, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "herald", Subsystem: "limit", Name: "fail_open_total",
		Help: "Limit checks decided by this node alone because Redis did not answer in time, by limit (notify_rate, streams).",
	}, []string{"limit"}))
	return &failOpen{
		limit:   limit,
		timeout: o.Timeout,
		bound:   bound.New(o.Timeout),
		count:   vec.WithLabelValues(limit),
		log:     o.Logger,
		logs:    rate.NewLimiter(rate.Every(logEvery), 1),
	}
}

// skipping reports whether Redis failed less than a second ago, and if so
// counts the check as decided alone.
func (f *failOpen) skipping() bool {
	if time.Now().UnixNano() < f.skip.Load() {
		f.count.Inc()
		return true
	}
	return false
}

// down reports whether Redis failed less than a second ago, without
// counting: for what is not a check (a refund, a release).
func (f *failOpen) down() bool { return time.Now().UnixNano() < f.skip.Load() }

// failed records that Redis did not answer a check: counted, logged at
// most once per 10 s, and Redis is not asked for a second. A check ended
// by its caller (ctx done) is not Redis's failure.
func (f *failOpen) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	f.skip.Store(time.Now().Add(skipFor).UnixNano())
	f.count.Inc()
	if !f.logs.Allow() {
		f.dropped.Add(1)
		return
	}
	f.log.WarnContext(ctx, "redis did not answer a limit check in time; this node decides alone for now",
		"limit", f.limit, "timeout", f.timeout, "err", err, "suppressed_before", f.dropped.Swap(0))
}
