package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/promreg"
)

// RateLimiter bounds the notifications each service sends, by service name,
// with a token bucket per name on this node: a key's own auth.Limit, or the
// default. Names come from the configured keys, so the buckets are few.
type RateLimiter struct {
	def     auth.Limit
	log     *slog.Logger
	limited *prometheus.CounterVec

	mu     sync.Mutex
	byName map[string]*rate.Limiter
}

// NewRateLimiter returns a limiter whose default, for keys without their own
// limit and for development mode's keyless requests, is def. reg may be nil.
func NewRateLimiter(def auth.Limit, reg prometheus.Registerer, log *slog.Logger) *RateLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &RateLimiter{
		def: def,
		log: log,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "notify",
			Name:      "rate_limited_total",
			Help:      "Notifications refused because their service exceeded its rate, by service.",
		}, []string{"service"}),
		byName: make(map[string]*rate.Limiter),
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
	now := time.Now()
	r := l.bucket(name, rate.Limit(lim.Rate), burst, now).ReserveN(now, n)
	if !r.OK() {
		var v violations
		v.Add("notifications", "%d notifications in one call exceed the burst of %d of service %q; send at most %d per call", n, burst, name, burst)
		return nil, v.err()
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		l.limited.WithLabelValues(name).Add(float64(n))
		if l.log.Enabled(ctx, slog.LevelDebug) {
			l.log.DebugContext(ctx, "notifications over rate", "service", name, "count", n, "retry_after", d)
		}
		return nil, exhausted(name, lim.Rate, burst, d)
	}
	return r.Cancel, nil
}

// bucket returns name's token bucket, set to the limit in force: a reload
// may have changed it since.
func (l *RateLimiter) bucket(name string, r rate.Limit, burst int, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byName[name]
	if !ok {
		b = rate.NewLimiter(r, burst)
		l.byName[name] = b
		return b
	}
	if b.Limit() != r {
		b.SetLimitAt(now, r)
	}
	if b.Burst() != burst {
		b.SetBurstAt(now, burst)
	}
	return b
}

func exhausted(name string, r float64, burst int, d time.Duration) error {
	msg := fmt.Sprintf("service %q is over its notification rate (%g/s, burst %d); retry in %s", name, r, burst, d.Round(time.Millisecond))
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}
