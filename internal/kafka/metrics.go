package kafka

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

// Reasons a message is dead-lettered: the values of the "reason" label and
// of the x-herald-error header.
const (
	reasonDecode   = "decode"
	reasonInvalid  = "invalid"
	reasonOversize = "oversize"
	// reasonConflict: the message's idempotency key (its own, or its
	// Kafka key) came before with a different notification.
	reasonConflict = "idempotency_conflict"
)

type metrics struct {
	consumed     prometheus.Counter
	committed    prometheus.Counter
	deadLettered *prometheus.CounterVec
	retries      *prometheus.CounterVec
	latency      prometheus.Histogram
	lag          *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "messages_consumed_total",
			Help: "Messages fetched from the notifications topic.",
		}),
		committed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "messages_committed_total",
			Help: "Messages whose offsets were committed.",
		}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "messages_dead_lettered_total",
			Help: "Messages written to the dead-letter topic, by reason (decode, invalid, oversize).",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "retries_total",
			Help: "Attempts repeated because a dependency failed, by operation (notify, dead_letter, commit).",
		}, []string{"op"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "processing_seconds",
			Help:    "Time from fetching a message to committing it, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "herald", Subsystem: "kafka", Name: "lag_messages",
			Help: "Messages behind the partition's end as of this node's last commit on it, by partition.",
		}, []string{"partition"}),
	}
	for _, r := range []string{reasonDecode, reasonInvalid, reasonOversize} {
		m.deadLettered.WithLabelValues(r)
	}
	for _, op := range []string{opNotify, opDeadLetter, opCommit} {
		m.retries.WithLabelValues(op)
	}
	if reg != nil {
		m.consumed = promreg.Register(reg, log, m.consumed)
		m.committed = promreg.Register(reg, log, m.committed)
		m.deadLettered = promreg.Register(reg, log, m.deadLettered)
		m.retries = promreg.Register(reg, log, m.retries)
		m.latency = promreg.Register(reg, log, m.latency)
		m.lag = promreg.Register(reg, log, m.lag)
	}
	return m
}
