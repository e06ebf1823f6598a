package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// redisCPU is the Redis server's CPU time so far (INFO cpu, user + sys).
func redisCPU(b *testing.B, c redis.UniversalClient) time.Duration {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.SplitSeq(info, "\r\n") {
		for _, k := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				total += f
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkRedisCPU measures the Redis CPU each appended entry costs, the
// figure that bounds how many entries one Redis (or one shard) takes:
// single-recipient notifications from 64 callers, with and without an
// idempotency key, to fresh inboxes and to full ones, where every append
// also trims one entry, in each layout (run in turn, so that -count
// alternates them). Run it on a Redis nothing else uses.
func BenchmarkRedisCPU(b *testing.B) {
	for _, l := range []redisstore.Layout{redisstore.LayoutV1, redisstore.LayoutV2} {
		b.Run(string(l), func(b *testing.B) { benchRedisCPU(b, l) })
	}
}

func benchRedisCPU(b *testing.B, layout redisstore.Layout) {
	for _, bc := range []struct {
		name string
		keep int // retention count; users' inboxes are filled to it first
		key  bool
	}{
		{"fresh", 0, false},
		{"fresh/key", 0, true},
		{"full", 20, false},
		{"full/key", 20, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const users = 1000
			s := redisstore.OpenTest(b, redisstore.Options{RetentionCount: bc.keep, Layout: layout})
			c := redis.NewClient(&redis.Options{Addr: redisstore.TestAddr})
			defer c.Close()
			var ids atomic.Int64
			next := func() store.Delivery {
				i := ids.Add(1)
				n := benchNotification(i)
				if bc.key {
					n.IdempotencyKey = fmt.Sprint("bench/", i)
				}
				return store.Delivery{Notification: n, Recipients: []store.Recipient{{User: notify.UserID(fmt.Sprint("user-", i%users))}}}
			}
			for range bc.keep {
				ds := make([]store.Delivery, users)
				for i := range ds {
					ds[i] = next()
				}
				if _, err := s.Append(context.Background(), ds); err != nil {
					b.Fatal(err)
				}
			}
			b.SetParallelism(64)
			cpu0 := redisCPU(b, c)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Append(context.Background(), []store.Delivery{next()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			cpu := redisCPU(b, c) - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "redis-µs/entry")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkRedisMemory reports the Redis memory per inbox entry of a 1 KB
// notification (MEMORY USAGE of the users' keys), in inboxes of 20 and
// of 1,000 entries, in each layout.
func BenchmarkRedisMemory(b *testing.B) {
	for _, l := range []redisstore.Layout{redisstore.LayoutV1, redisstore.LayoutV2} {
		for _, size := range []int{20, 1000} {
			b.Run(fmt.Sprintf("%s/entries=%d", l, size), func(b *testing.B) {
				s := redisstore.OpenTest(b, redisstore.Options{RetentionCount: size, Layout: l})
				c := redis.NewClient(&redis.Options{Addr: redisstore.TestAddr})
				defer c.Close()
				users := 20000 / size
				var per float64
				for b.Loop() {
					for i := range size {
						ds := make([]store.Delivery, users)
						for u := range ds {
							n := benchNotification(int64(i*users + u))
							n.Body = strings.Repeat("x", 1024-len(n.Title))
							ds[u] = store.Delivery{Notification: n, Recipients: []store.Recipient{{User: notify.UserID(fmt.Sprint("mem-", u))}}}
						}
						if _, err := s.Append(context.Background(), ds); err != nil {
							b.Fatal(err)
						}
					}
					var total int64
					for u := range users {
						for _, k := range redisstore.UserKeys(s, fmt.Sprint("mem-", u)) {
							n, err := c.MemoryUsage(context.Background(), k, 0).Result()
							if err != nil && err != redis.Nil {
								b.Fatal(err)
							}
							total += n
						}
					}
					per = float64(total) / float64(users*size)
				}
				b.ReportMetric(per, "B/entry")
			})
		}
	}
}

// BenchmarkRedisConvert reports the Redis CPU of converting a full v1
// inbox (1,000 entries) to v2, which a v2 store's first append to it does.
func BenchmarkRedisConvert(b *testing.B) {
	const size, users = 1000, 20
	v1 := redisstore.OpenTest(b, redisstore.Options{RetentionCount: size, Layout: redisstore.LayoutV1})
	v2 := redisstore.Reopen(b, v1, redisstore.LayoutV2)
	c := redis.NewClient(&redis.Options{Addr: redisstore.TestAddr})
	defer c.Close()
	var ids atomic.Int64
	appendAll := func(s *redisstore.Store, prefix string) {
		ds := make([]store.Delivery, users)
		for u := range ds {
			ds[u] = store.Delivery{Notification: benchNotification(ids.Add(1)), Recipients: []store.Recipient{{User: notify.UserID(fmt.Sprint(prefix, u))}}}
		}
		if _, err := s.Append(context.Background(), ds); err != nil {
			b.Fatal(err)
		}
	}
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		prefix := fmt.Sprint("conv-", i, "-")
		for range size {
			appendAll(v1, prefix)
		}
		cpu0 := redisCPU(b, c)
		b.StartTimer()
		appendAll(v2, prefix)
		cpu += redisCPU(b, c) - cpu0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*users), "redis-µs/inbox")
}
