package ingest

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

// Outcomes of a notification, the values of the "outcome" label.
const (
	outcomeAccepted  = "accepted"
	outcomeDuplicate = "duplicate"
	outcomeConflict  = "conflict"
	outcomeInvalid   = "invalid"
	outcomeFailed    = "failed"
)

type metrics struct {
	notifications *prometheus.CounterVec
	recipients    prometheus.Counter
	channelEvents prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "ingest",
			Name:      "notifications_total",
			Help:      "Notifications received, by outcome (accepted, duplicate, conflict, invalid, failed).",
		}, []string{"outcome"}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "ingest",
			Name:      "recipients_total",
			Help:      "Inbox entries created by accepted notifications.",
		}),
		channelEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "channel",
			Name:      "events_published_total",
			Help:      "Channel events published by accepted notifications, one per channel of each.",
		}),
	}
	for _, o := range []string{outcomeAccepted, outcomeDuplicate, outcomeConflict, outcomeInvalid, outcomeFailed} {
		m.notifications.WithLabelValues(o)
	}
	if reg != nil {
		m.notifications = promreg.Register(reg, log, m.notifications)
		m.recipients = promreg.Register(reg, log, m.recipients)
		m.channelEvents = promreg.Register(reg, log, m.channelEvents)
	}
	return m
}
