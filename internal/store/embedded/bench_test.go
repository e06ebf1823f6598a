package embedded_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

const benchUsers = 10000

func benchNotification(i int64) *notify.Notification {
	return &notify.Notification{
		ID: fmt.Sprint("bench-", i), Type: "bench", Title: "Your order shipped",
		Body: "Parcel 1Z999 left the warehouse.", CreateTime: time.Now(),
	}
}

func setFingerprint(n *notify.Notification) { n.Fingerprint = n.ContentFingerprint() }

// latencies collects per-call durations from parallel goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(ds []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, ds...)
}

func (l *latencies) report(b *testing.B, notifs int, elapsed time.Duration) {
	slices.Sort(l.all)
	if len(l.all) > 0 {
		b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(notifs)/elapsed.Seconds(), "notifs/s")
}

// benchAppend runs Append with perCall deliveries (one random recipient
// each) from many parallel callers, on real disk.
func benchAppend(b *testing.B, perCall, parallelism int) {
	benchAppendWith(b, perCall, parallelism, benchNotification)
}

func benchAppendKeyed(b *testing.B, perCall, parallelism int) {
	benchAppendWith(b, perCall, parallelism, func(i int64) *notify.Notification {
		n := benchNotification(i)
		n.IdempotencyKey = fmt.Sprint("svc\x00order-", i)
		setFingerprint(n)
		return n
	})
}

func benchAppendWith(b *testing.B, perCall, parallelism int, newNotification func(int64) *notify.Notification) {
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var (
		ids atomic.Int64
		lat latencies
	)
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		ds := make([]store.Delivery, perCall)
		for pb.Next() {
			for i := range ds {
				user := notify.UserID(fmt.Sprint("user-", rand.IntN(benchUsers)))
				ds[i] = store.Delivery{Notification: newNotification(ids.Add(1)), Recipients: []store.Recipient{{User: user}}}
			}
			t0 := time.Now()
			if _, err := s.Append(context.Background(), ds); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		lat.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, b.N*perCall, elapsed)
}

// BenchmarkAppend: one notification per Append, callers in parallel
// (parallelism × GOMAXPROCS of them), so that group commit shares fsyncs.
func BenchmarkAppend(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%dxP", par), func(b *testing.B) { benchAppend(b, 1, par) })
	}
}

// BenchmarkAppendBatched: 100 notifications per Append.
func BenchmarkAppendBatched(b *testing.B) {
	benchAppend(b, 100, 4)
}

// BenchmarkAppendKeyed: as BenchmarkAppendBatched, each notification with
// an idempotency key (and its content fingerprint), so that each one looks
// its key up and writes its record.
func BenchmarkAppendKeyed(b *testing.B) {
	benchAppendKeyed(b, 100, 4)
}

// BenchmarkRead pages a full inbox (1000 entries) 100 at a time, as a
// reconnecting client's replay does.
func BenchmarkRead(b *testing.B) {
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const user = "reader"
	for i := range 10 {
		ds := make([]store.Delivery, 100)
		for j := range ds {
			ds[j] = store.Delivery{Notification: benchNotification(int64(i*100 + j)), Recipients: []store.Recipient{{User: user}}}
		}
		if _, err := s.Append(context.Background(), ds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	entries := 0
	for i := 0; b.Loop(); i++ {
		es, err := s.Read(context.Background(), user, notify.Cursor(i%10*100), 100)
		if err != nil || len(es) != 100 {
			b.Fatalf("Read: %d entries, %v", len(es), err)
		}
		entries += len(es)
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}
