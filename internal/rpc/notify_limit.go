package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/promreg"
)

// Limiter keeps the token buckets of the services: limit.Rates on one node,
// redislimit.Rates shared by the nodes of a cluster.
type Limiter interface {
	// Take takes n tokens from the bucket of service, shaped r, or none
	// and reports false with the time until n would pass. undo gives the
	// tokens back, for a request that then fails.
	Take(ctx context.Context, service string, r limit.Rate, n int) (undo func(), wait time.Duration, ok bool)
}

// RateLimiter bounds the notifications each service sends, by service name,
// with a token bucket per name: a key's own auth.Limit, or the default.
// Where the buckets are, and so whether the rate is per node or per
// cluster, is up to its Limiter.
type RateLimiter struct {
	def     auth.Limit
	buckets Limiter
	log     *slog.Logger
	limited *prometheus.CounterVec
}

// NewRateLimiter returns a limiter whose default, for keys without their own
// limit and for development mode's keyless requests, is def. buckets nil
// means buckets on this node (limit.Rates); reg may be nil.
func NewRateLimiter(def auth.Limit, buckets Limiter, reg prometheus.Registerer, log *slog.Logger) *RateLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if buckets == nil {
		buckets = limit.NewRates()
	}
	l := &RateLimiter{
		def:     def,
		buckets: buckets,
		log:     log,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "notify",
			Name:      "rate_limited_total",
			Help:      "Notifications refused because their service exceeded its rate, by service.",
		}, []string{"service"}),
	}
	if reg != nil {
		l.limited = promreg.Register(reg, log, l.limited)
	}
	return l
}

// take takes n notifications from the bucket of ctx's service. Over the
// limit it takes nothing and returns RESOURCE_EXHAUSTED with the time to
// wait as RetryInfo. undo gives the notifications back, for a request that
// then fails. A nil limiter allows everything.
func (l *RateLimiter) take(ctx context.Context, n int) (undo func(), err error) {
	noop := func() {}
	if l == nil {
		return noop, nil
	}
	name, _ := auth.ServiceFrom(ctx)
	lim := l.def
	if k, ok := auth.KeyFrom(ctx); ok && k.Limit != nil {
		lim = *k.Limit
	}
	if lim.Rate <= 0 {
		return noop, nil
	}
	burst := lim.Burst
	if burst <= 0 {
		burst = max(1, int(math.Ceil(lim.Rate)))
	}
	if n > burst {
		var v violations
		v.Add("notifications", "%d notifications in one call exceed the burst of %d of service %q; send at most %d per call", n, burst, name, burst)
		return nil, v.err()
	}
	undo, d, ok := l.buckets.Take(ctx, name, limit.Rate{PerSecond: lim.Rate, Burst: burst}, n)
	if !ok {
		l.limited.WithLabelValues(name).Add(float64(n))
		if l.log.Enabled(ctx, slog.LevelDebug) {
			l.log.DebugContext(ctx, "notifications over rate", "service", name, "count", n, "retry_after", d)
		}
		return nil, exhausted(name, lim.Rate, burst, d)
	}
	return undo, nil
}

func exhausted(name string, r float64, burst int, d time.Duration) error {
	msg := fmt.Sprintf("service %q is over its notification rate (%g/s, burst %d); retry in %s", name, r, burst, d.Round(time.Millisecond))
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}
