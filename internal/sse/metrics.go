package sse

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Disconnect reasons, the values of the reason label.
const (
	reasonClientGone   = "client_gone"
	reasonSlowConsumer = "slow_consumer"
	reasonHubClosed    = "hub_closed"
	reasonTokenExpired = "token_expired"
	reasonShutdown     = "shutdown"
	reasonWriteError   = "write_error"
	reasonStoreError   = "store_error"
)

type metrics struct {
	active      prometheus.Gauge
	replayed    prometheus.Counter
	sent        prometheus.Counter
	disconnects *prometheus.CounterVec
}

// newMetrics registers the handler's collectors on reg; a failure (a second
// handler on one registry) is logged, and the handler works unexported.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "herald", Subsystem: "sse", Name: "streams_active",
			Help: "Open SSE streams.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "sse", Name: "replayed_entries_total",
			Help: "Entries sent from the store on resume.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "sse", Name: "sent_entries_total",
			Help: "Entries written to streams, replayed or live.",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "sse", Name: "disconnects_total",
			Help: "Streams ended, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonClientGone, reasonSlowConsumer, reasonHubClosed, reasonTokenExpired, reasonShutdown, reasonWriteError, reasonStoreError} {
		m.disconnects.WithLabelValues(r) // export zeros, so rates exist before the first event
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.active, m.replayed, m.sent, m.disconnects} {
			if err := reg.Register(c); err != nil {
				log.Warn("sse: register metric", "error", err)
			}
		}
	}
	return m
}
