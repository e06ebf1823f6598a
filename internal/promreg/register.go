// Package promreg registers Herald's Prometheus collectors the same way in
// every component.
package promreg

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Register adds c to reg, or returns the collector already registered under
// the same name, so that two instances of a component sharing a registry
// count together instead of failing. Metrics are not worth refusing to start
// (or panicking, as MustRegister does) over, so any other failure is logged
// and c works unregistered. With a nil reg, c is returned unregistered.
func Register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
	if reg == nil {
		return c
	}
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
	log.Warn("metric not registered", "err", err)
	return c
}
