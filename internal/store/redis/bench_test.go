package redisstore_test

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
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

const benchUsers = 10000

func benchNotification(i int64) *notify.Notification {
	return &notify.Notification{
		ID: fmt.Sprint("bench-", i), Type: "bench", Title: "Your order shipped",
		Body: "Parcel 1Z999 left the warehouse.", CreateTime: time.Now(),
	}
}

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

func (l *latencies) report(b *testing.B, entries int, elapsed time.Duration) {
	slices.Sort(l.all)
	if len(l.all) > 0 {
		b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(entries)/elapsed.Seconds(), "entries/s")
}

// benchAppend runs Append of one notification to recipients random users
// from parallelism × GOMAXPROCS parallel callers.
func benchAppend(b *testing.B, recipients, parallelism int) {
	s := redisstore.OpenTest(b, redisstore.Options{})
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
		d := store.Delivery{Recipients: make([]store.Recipient, recipients)}
		for pb.Next() {
			d.Notification = benchNotification(ids.Add(1))
			for i := range d.Recipients {
				d.Recipients[i].User = notify.UserID(fmt.Sprint("user-", rand.IntN(benchUsers)))
			}
			t0 := time.Now()
			if _, err := s.Append(context.Background(), []store.Delivery{d}); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		lat.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, b.N*recipients, elapsed)
}

// BenchmarkAppend: one notification per Append, to 1 or 100 users, from
// callers in parallel (so that the writer groups them).
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct{ recipients, par int }{{1, 1}, {1, 32}, {100, 1}, {100, 4}} {
		b.Run(fmt.Sprintf("recipients=%d/callers=%dxP", bc.recipients, bc.par), func(b *testing.B) {
			benchAppend(b, bc.recipients, bc.par)
		})
	}
}

// BenchmarkRead pages a full inbox (1000 entries) 100 at a time, as a
// reconnecting client's replay does.
func BenchmarkRead(b *testing.B) {
	s := redisstore.OpenTest(b, redisstore.Options{})
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

// BenchmarkList lists the first page of a full inbox, counting it whole.
func BenchmarkList(b *testing.B) {
	s := redisstore.OpenTest(b, redisstore.Options{})
	const user = "lister"
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
	for b.Loop() {
		p, err := s.List(context.Background(), user, store.ListQuery{Limit: 20})
		if err != nil || len(p.Entries) != 20 {
			b.Fatalf("List: %d entries, %v", len(p.Entries), err)
		}
	}
}
