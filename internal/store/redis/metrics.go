package redisstore

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	appends    prometheus.Counter
	duplicates prometheus.Counter
	entries    prometheus.Counter
	failures   prometheus.Counter
	groupSize  prometheus.Histogram
	commit     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_appends_total",
			Help: "Append calls committed.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_duplicates_total",
			Help: "Deliveries not stored because their idempotency key was seen within the window.",
		}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_entries_written_total",
			Help: "Inbox entries written.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_store_commit_failures_total",
			Help: "Groups whose writes failed; their Appends returned ErrUnavailable.",
		}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_group_entries",
			Help:    "Inbox entries per group.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_store_commit_seconds",
			Help:    "Time to write one group to Redis (every round trip).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.appends, m.duplicates, m.entries, m.failures, m.groupSize, m.commit} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("store: register metrics: %w", err)
	}
	return m, nil
}
