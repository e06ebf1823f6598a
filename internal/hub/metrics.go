package hub

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connections prometheus.Gauge
	published   prometheus.Counter
	delivered   prometheus.Counter
	evictions   prometheus.Counter
}

// newMetrics registers the hub's collectors on reg. A registration failure
// (a second hub on one registry) is logged, not fatal: the hub works without
// its metrics being exported.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "herald", Subsystem: "hub", Name: "connections",
			Help: "Live subscriptions registered in the hub.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "hub", Name: "published_entries_total",
			Help: "Inbox entries handed to the hub.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "hub", Name: "delivered_entries_total",
			Help: "Entries queued to a subscription (one per entry and connection).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "hub", Name: "evictions_total",
			Help: "Subscriptions evicted because their queue was full.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.published, m.delivered, m.evictions} {
			if err := reg.Register(c); err != nil {
				log.Warn("hub: register metric", "error", err)
			}
		}
	}
	return m
}
