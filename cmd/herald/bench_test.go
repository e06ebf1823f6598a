package main_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// BenchmarkNotify measures acknowledged (durable) notifications per second
// through gRPC into the real server and its embedded store on disk, and the
// latency of each call.
//
//	go test -run '^$' -bench BenchmarkNotify -benchtime 5s ./cmd/herald
func BenchmarkNotify(b *testing.B) {
	s := startServer(b)
	c := s.notifyClient(b)
	const users = 10000
	notification := func(i int64) *heraldv1.Notification {
		return &heraldv1.Notification{
			Audience: &heraldv1.Audience{UserIds: []string{fmt.Sprintf("user-%05d", i%users)}},
			Title:    "benchmark",
			Body:     "a notification of ordinary size, with a short body",
		}
	}
	var seq atomic.Int64

	b.Run("single", func(b *testing.B) {
		b.SetParallelism(32) // 32 × GOMAXPROCS callers
		rec := newLatencies()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			ctx := withKey(context.Background())
			local := make([]time.Duration, 0, 1024)
			for pb.Next() {
				t0 := time.Now()
				if _, err := c.Notify(ctx, &heraldv1.NotifyRequest{Notification: notification(seq.Add(1))}); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			rec.add(local)
		})
		rec.report(b, float64(b.N), time.Since(start))
	})

	b.Run("batch100", func(b *testing.B) {
		b.SetParallelism(4)
		rec := newLatencies()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			ctx := withKey(context.Background())
			local := make([]time.Duration, 0, 1024)
			req := &heraldv1.NotifyBatchRequest{Notifications: make([]*heraldv1.Notification, 100)}
			for pb.Next() {
				for i := range req.Notifications {
					req.Notifications[i] = notification(seq.Add(1))
				}
				t0 := time.Now()
				if _, err := c.NotifyBatch(ctx, req); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			rec.add(local)
		})
		rec.report(b, float64(b.N)*100, time.Since(start))
	})
}

// BenchmarkIdleStreamRSS opens b.N idle authenticated streams, one user
// each, and reports how much the server's resident memory grew per stream.
//
//	go test -run '^$' -bench BenchmarkIdleStreamRSS -benchtime 10000x ./cmd/herald
func BenchmarkIdleStreamRSS(b *testing.B) {
	s := startServer(b)
	before := serverRSS(b, s)
	streams := make([]*rawStream, 0, b.N)
	for i := 0; i < b.N; i++ {
		streams = append(streams, s.streamFor(b, fmt.Sprintf("idle-%05d", i), ""))
	}
	after := serverRSS(b, s)
	b.ReportMetric(float64(after-before)/1024/float64(b.N), "rss-KB/stream")
	b.ReportMetric(float64(after)/(1<<20), "rss-MB")
	b.ReportMetric(0, "ns/op")
	for _, st := range streams {
		st.Close()
	}
}

// latencies collects per-call durations from parallel callers.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func newLatencies() *latencies { return &latencies{} }

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, notifications float64, elapsed time.Duration) {
	b.ReportMetric(notifications/elapsed.Seconds(), "notifications/s")
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[int(q*float64(len(l.all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
