package sse

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
	"github.com/heraldhq/herald/internal/resume"
)

// newMetrics registers the SSE streams' herald_stream_*{transport="sse"}
// on reg, and under their former names herald_sse_*, read from the same
// counters, so that dashboards and alerts written for them keep working.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *resume.Metrics {
	m := resume.NewMetrics(reg, "sse", log)
	if reg != nil {
		promreg.Register(reg, log, &aliases{m: m})
	}
	return m
}

// Descriptions of the former names.
var (
	activeDesc      = prometheus.NewDesc("herald_sse_streams_active", "Open SSE streams; herald_stream_active{transport=\"sse\"}.", nil, nil)
	replayedDesc    = prometheus.NewDesc("herald_sse_replayed_entries_total", "Entries sent from the store; herald_stream_replayed_total{transport=\"sse\"}.", nil, nil)
	sentDesc        = prometheus.NewDesc("herald_sse_sent_entries_total", "Entries written to streams; herald_stream_sent_total{transport=\"sse\"}.", nil, nil)
	disconnectsDesc = prometheus.NewDesc("herald_sse_disconnects_total", "Streams ended, by reason; herald_stream_disconnects_total{transport=\"sse\"}.", []string{"reason"}, nil)
)

// aliases exports the SSE figures under their former names, computed at
// scrape time, so that streams pay nothing for them.
type aliases struct{ m *resume.Metrics }

func (a *aliases) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- replayedDesc
	ch <- sentDesc
	ch <- disconnectsDesc
}

func (a *aliases) Collect(ch chan<- prometheus.Metric) {
	v := a.m.Values()
	send := func(d *prometheus.Desc, t prometheus.ValueType, x float64, labels ...string) {
		if m, err := prometheus.NewConstMetric(d, t, x, labels...); err == nil {
			ch <- m
		}
	}
	send(activeDesc, prometheus.GaugeValue, v.Active)
	send(replayedDesc, prometheus.CounterValue, v.Replayed)
	send(sentDesc, prometheus.CounterValue, v.Sent)
	for _, r := range resume.Reasons {
		send(disconnectsDesc, prometheus.CounterValue, v.Disconnects[r], string(r))
	}
}
