package resume

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/heraldhq/herald/internal/promreg"
)

// Reason is why a stream ended, the value of the reason label.
type Reason string

// Reasons a stream ends.
const (
	ReasonClientGone   Reason = "client_gone"
	ReasonSlowConsumer Reason = "slow_consumer"
	ReasonHubClosed    Reason = "hub_closed"
	ReasonTokenExpired Reason = "token_expired"
	ReasonShutdown     Reason = "shutdown"
	ReasonWriteError   Reason = "write_error"
	ReasonStoreError   Reason = "store_error"
)

// Reasons lists every Reason, in a stable order.
var Reasons = []Reason{ReasonClientGone, ReasonSlowConsumer, ReasonHubClosed, ReasonTokenExpired, ReasonShutdown, ReasonWriteError, ReasonStoreError}

// Metrics are one transport's stream metrics: herald_stream_* with a
// constant transport label, so that each transport registers its own and
// they share one name on a registry.
type Metrics struct {
	active      prometheus.Gauge
	replayed    prometheus.Counter
	sent        prometheus.Counter
	reused      prometheus.Counter
	disconnects *prometheus.CounterVec
	// byReason holds disconnects' children, so that counting one costs
	// no label lookup.
	byReason map[Reason]prometheus.Counter
}

// NewMetrics registers transport's stream metrics on reg (nil registers
// nothing). Two engines of one transport on a registry count together.
func NewMetrics(reg prometheus.Registerer, transport string, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	labels := prometheus.Labels{"transport": transport}
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "herald", Subsystem: "stream", Name: "active", ConstLabels: labels,
			Help: "Open streams, by transport.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "stream", Name: "replayed_total", ConstLabels: labels,
			Help: "Entries sent from the store: on resume, and to fill a gap in live entries.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "stream", Name: "sent_total", ConstLabels: labels,
			Help: "Entries written to streams, replayed or live.",
		}),
		reused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "stream", Name: "reused_cursor_resets_total", ConstLabels: labels,
			Help: "Resets sent because a live entry came under a cursor the stream had sent with another notification: the store's counter went back (a Redis failover or restart lost writes).",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald", Subsystem: "stream", Name: "disconnects_total", ConstLabels: labels,
			Help: "Streams ended, by transport and reason.",
		}, []string{"reason"}),
	}
	if reg != nil {
		m.active = promreg.Register(reg, log, m.active)
		m.replayed = promreg.Register(reg, log, m.replayed)
		m.sent = promreg.Register(reg, log, m.sent)
		m.reused = promreg.Register(reg, log, m.reused)
		m.disconnects = promreg.Register(reg, log, m.disconnects)
	}
	m.byReason = make(map[Reason]prometheus.Counter, len(Reasons))
	for _, r := range Reasons {
		// Created up front, so zeros are exported and rates exist before
		// the first disconnect.
		m.byReason[r] = m.disconnects.WithLabelValues(string(r))
	}
	return m
}

func (m *Metrics) disconnected(r Reason) {
	if c, ok := m.byReason[r]; ok {
		c.Inc()
		return
	}
	m.disconnects.WithLabelValues(string(r)).Inc()
}

// Values is a snapshot of a transport's figures.
type Values struct {
	Active, Replayed, Sent float64
	Disconnects            map[Reason]float64
}

// Values reads the current figures, for collectors that export them under
// other names (see sse's herald_sse_* aliases).
func (m *Metrics) Values() Values {
	v := Values{
		Active:      read(m.active),
		Replayed:    read(m.replayed),
		Sent:        read(m.sent),
		Disconnects: make(map[Reason]float64, len(m.byReason)),
	}
	for r, c := range m.byReason {
		v.Disconnects[r] = read(c)
	}
	return v
}

func read(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return 0
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}
