package bus

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

type metrics struct {
	published     prometheus.Counter
	publishErrors prometheus.Counter
	dropped       prometheus.Counter
	received      prometheus.Counter
	decodeErrors  prometheus.Counter
	receiveErrors prometheus.Counter
	recovered     prometheus.Counter
	recoverErrors prometheus.Counter
	watched       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "herald", Subsystem: "bus", Name: name, Help: help})
	}
	m := &metrics{
		published:     counter("published_entries_total", "Entries published to the other nodes."),
		publishErrors: counter("publish_errors_total", "PUBLISH pipelines that failed; their entries reach remote streams only by gap fill."),
		dropped:       counter("dropped_entries_total", "Entries not published because the publish queue was full or the bus closed."),
		received:      counter("received_entries_total", "Entries received from the bus and handed to the local hub."),
		decodeErrors:  counter("decode_errors_total", "Bus messages that could not be decoded."),
		receiveErrors: counter("receive_errors_total", "Failed reads of the subscription connection (each one a reconnect)."),
		recovered:     counter("recovered_users_total", "Users whose newest entries were handed to local streams after their lost subscription came back."),
		recoverErrors: counter("recover_errors_total", "Failed reads of a user's newest entries after their subscription came back."),
		watched: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "herald", Subsystem: "bus", Name: "watched_users",
			Help: "Users whose bus channel this node is subscribed to.",
		}),
	}
	for _, c := range []*prometheus.Counter{&m.published, &m.publishErrors, &m.dropped, &m.received, &m.decodeErrors, &m.receiveErrors, &m.recovered, &m.recoverErrors} {
		*c = promreg.Register(reg, log, *c)
	}
	m.watched = promreg.Register(reg, log, m.watched)
	return m
}
