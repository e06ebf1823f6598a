package rpc

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/promreg"
)

// Metrics counts unary calls by method and status code, and their latency by
// method. The interceptor runs outermost, so calls refused by
// authentication, scopes or rate limits are counted too. REST calls run the
// same interceptor chain in process, so they count here as well.
type Metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec

	// byMethod caches each method's children: a label lookup hashes its
	// values, which costs more than the observation itself.
	byMethod sync.Map // full method name → *methodMetrics
}

type methodMetrics struct {
	name    string
	seconds prometheus.Observer
	mu      sync.Mutex
	byCode  [codes.Unauthenticated + 1]prometheus.Counter
}

// NewMetrics returns the interceptor's metrics, registered with reg (which
// may be nil).
func NewMetrics(reg prometheus.Registerer, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "herald",
			Subsystem: "rpc",
			Name:      "requests_total",
			Help:      "Unary gRPC and REST calls by method (service/Method) and gRPC status code.",
		}, []string{"method", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "herald",
			Subsystem: "rpc",
			Name:      "request_duration_seconds",
			Help:      "Time to answer a unary gRPC or REST call, by method.",
			Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method"}),
	}
	if reg != nil {
		m.requests = promreg.Register(reg, log, m.requests)
		m.seconds = promreg.Register(reg, log, m.seconds)
	}
	return m
}

// Unary returns the interceptor.
func (m *Metrics) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		mm := m.method(info.FullMethod)
		mm.seconds.Observe(time.Since(start).Seconds())
		mm.counter(m.requests, status.Code(err)).Inc()
		return resp, err
	}
}

func (m *Metrics) method(full string) *methodMetrics {
	if v, ok := m.byMethod.Load(full); ok {
		return v.(*methodMetrics)
	}
	name := strings.TrimPrefix(full, "/")
	v, _ := m.byMethod.LoadOrStore(full, &methodMetrics{name: name, seconds: m.seconds.WithLabelValues(name)})
	return v.(*methodMetrics)
}

func (mm *methodMetrics) counter(vec *prometheus.CounterVec, code codes.Code) prometheus.Counter {
	if int(code) >= len(mm.byCode) {
		return vec.WithLabelValues(mm.name, code.String())
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	c := mm.byCode[code]
	if c == nil {
		c = vec.WithLabelValues(mm.name, code.String())
		mm.byCode[code] = c
	}
	return c
}

// ChainUnary runs ics in order around a handler, the first outermost, as
// grpc.ChainUnaryInterceptor does for a server; REST uses it to run the same
// chain in process.
func ChainUnary(ics ...grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		h := handler
		for i := len(ics) - 1; i >= 0; i-- {
			ic, next := ics[i], h
			h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
		}
		return h(ctx, req)
	}
}
