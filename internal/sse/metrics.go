package sse

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
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

// newMetrics registers the handler's collectors on reg (promreg: a second
// handler on one registry counts into the first one's collectors).
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
	m.active = promreg.Register(reg, log, m.active)
	m.replayed = promreg.Register(reg, log, m.replayed)
	m.sent = promreg.Register(reg, log, m.sent)
	m.disconnects = promreg.Register(reg, log, m.disconnects)
	return m
}
