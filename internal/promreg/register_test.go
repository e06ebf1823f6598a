package promreg_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/promreg"
)

func TestRegisterReusesExisting(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	newCounter := func() prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "Things."})
	}
	first := promreg.Register(reg, log, newCounter())
	second := promreg.Register(reg, log, newCounter())
	if first != second {
		t.Fatal("a second collector of the same name was not replaced by the registered one")
	}
	// A clash of a different kind is logged, and the collector still works.
	gauge := promreg.Register(reg, log, prometheus.NewGauge(prometheus.GaugeOpts{Name: "things_total", Help: "Other."}))
	gauge.Set(1)
	first.Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "things_total" || mfs[0].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Errorf("gathered %v, want things_total 1", mfs)
	}
}

func TestRegisterWithoutRegistry(t *testing.T) {
	t.Parallel()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "Things."})
	if got := promreg.Register(nil, slog.New(slog.DiscardHandler), c); got != c {
		t.Error("a nil registry did not return the collector given")
	}
}
