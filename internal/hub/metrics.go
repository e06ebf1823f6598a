package hub

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

type metrics struct {
	connections prometheus.Gauge
	published   prometheus.Counter
	delivered   prometheus.Counter
	evictions   prometheus.Counter
}

// newMetrics registers the hub's collectors on reg (promreg: a second hub on
// one registry counts into the first one's collectors).
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
	m.connections = promreg.Register(reg, log, m.connections)
	for _, c := range []*prometheus.Counter{&m.published, &m.delivered, &m.evictions} {
		*c = promreg.Register(reg, log, *c)
	}
	return m
}
