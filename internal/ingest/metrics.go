package ingest

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a notification, the values of the "outcome" label.
const (
	outcomeAccepted  = "accepted"
	outcomeDuplicate = "duplicate"
	outcomeInvalid   = "invalid"
	outcomeFailed    = "failed"
)

type metrics struct {
	notifications *prometheus.CounterVec
	recipients    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "ingest",
			Name:      "notifications_total",
			Help:      "Notifications received, by outcome (accepted, duplicate, invalid, failed).",
		}, []string{"outcome"}),
		recipients: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "ingest",
			Name:      "recipients_total",
			Help:      "Inbox entries created by accepted notifications.",
		}),
	}
	for _, o := range []string{outcomeAccepted, outcomeDuplicate, outcomeInvalid, outcomeFailed} {
		m.notifications.WithLabelValues(o)
	}
	if reg != nil {
		m.notifications = register(reg, log, m.notifications)
		m.recipients = register(reg, log, m.recipients)
	}
	return m
}

// register adds c to reg, or reuses the collector already registered under
// the same name, so that two services sharing a registry count together
// instead of failing. Metrics are not worth refusing to start over, so
// other failures are logged and the collector works unregistered.
func register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	log.Warn("ingest metrics not registered", "err", err)
	return c
}
