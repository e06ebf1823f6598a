// Package storemetrics holds the metrics every store backend exports under
// the same names, so that dashboards work whichever store a node runs.
package storemetrics

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

// Metrics are a store's write-path figures. A group is what one write
// round stores: a group commit on disk, a pipeline of scripts on Redis.
type Metrics struct {
	Appends    prometheus.Counter
	Duplicates prometheus.Counter
	Entries    prometheus.Counter
	Failures   prometheus.Counter
	GroupSize  prometheus.Histogram
	Commit     prometheus.Histogram
}

// New returns the metrics, registered with reg unless it is nil (promreg: two
// stores on one registry count together; a failure is logged to log).
func New(reg prometheus.Registerer, log *slog.Logger) *Metrics {
	m := &Metrics{
		Appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_appends_total",
			Help: "Append calls committed.",
		}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_duplicates_total",
			Help: "Deliveries not stored because their idempotency key was seen within the window.",
		}),
		Entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_entries_written_total",
			Help: "Inbox entries written.",
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_commit_failures_total",
			Help: "Groups whose writes failed; their Appends returned ErrUnavailable.",
		}),
		GroupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_group_entries",
			Help:    "Inbox entries per group.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		Commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_commit_seconds",
			Help:    "Time to make one group durable (fsync on disk, every round trip on Redis).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	for _, c := range []*prometheus.Counter{&m.Appends, &m.Duplicates, &m.Entries, &m.Failures} {
		*c = promreg.Register(reg, log, *c)
	}
	m.GroupSize = promreg.Register(reg, log, m.GroupSize)
	m.Commit = promreg.Register(reg, log, m.Commit)
	return m
}
