package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestChannelTTL: every key of a channel has a TTL a little past the age,
// so an idle channel's keys vanish; a new history that deleted the old
// events' keys gives the new ones theirs at once.
func TestChannelTTL(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := redisstore.OpenTest(t, redisstore.Options{ChannelHistoryAge: time.Hour, Now: clk.Now})
	rdb := testenv.NeedRedis(t, redisstore.TestAddr)
	const ch = notify.Channel("rooms/ttl")
	check := func(when string) {
		t.Helper()
		for _, k := range redisstore.ChannelKeys(s, ch) {
			ttl, err := rdb.PTTL(t.Context(), k).Result()
			if err != nil || ttl <= time.Hour || ttl > time.Hour+time.Hour/8 {
				t.Errorf("%s: TTL of %s = %v, %v; want within (1h, 1h7m30s]", when, k, ttl, err)
			}
		}
	}
	for i := range 3 {
		if _, err := s.Publish(t.Context(), &notify.Notification{ID: fmt.Sprint("a", i)}, []notify.Channel{ch}); err != nil {
			t.Fatal(err)
		}
	}
	check("after the first publishes")
	clk.Advance(2 * time.Hour)
	if _, err := s.Publish(t.Context(), &notify.Notification{ID: "b"}, []notify.Channel{ch}); err != nil {
		t.Fatal(err)
	}
	check("after a new history")
}

// benchBody is a 1 KB notification body.
var benchBody = strings.Repeat("x", 1024)

// BenchmarkRedisChannelCPU measures the Redis CPU each channel event
// costs, as BenchmarkRedisCPU does for inbox entries: notifications with a
// 1 KB body from 64 callers, each to one of 100 channels whose histories
// are full (every publish also trims one event), or to fresh ones; then
// the memory a full channel takes per event (MEMORY USAGE of its keys).
// Run it on a Redis nothing else uses.
func BenchmarkRedisChannelCPU(b *testing.B) {
	for _, bc := range []struct {
		name string
		full bool
	}{{"fresh", false}, {"full", true}} {
		b.Run(bc.name, func(b *testing.B) {
			const (
				channels = 100
				history  = 100
			)
			s := redisstore.OpenTest(b, redisstore.Options{ChannelHistory: history})
			c := redis.NewClient(&redis.Options{Addr: redisstore.TestAddr})
			defer c.Close()
			var ids atomic.Int64
			next := func() (*notify.Notification, notify.Channel) {
				i := ids.Add(1)
				n := &notify.Notification{ID: fmt.Sprint("bench-", i), Type: "bench", Title: "Score update", Body: benchBody, CreateTime: time.Now()}
				return n, notify.Channel(fmt.Sprint("scores/match-", i%channels))
			}
			if bc.full {
				for range channels * history {
					n, ch := next()
					if _, err := s.Publish(context.Background(), n, []notify.Channel{ch}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetParallelism(64)
			cpu0 := redisCPU(b, c)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n, ch := next()
					if _, err := s.Publish(context.Background(), n, []notify.Channel{ch}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			cpu := redisCPU(b, c) - cpu0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "redis-µs/event")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			if bc.full {
				var bytes int64
				for _, k := range redisstore.ChannelKeys(s, "scores/match-0") {
					n, err := c.MemoryUsage(context.Background(), k, 0).Result()
					if err != nil {
						b.Fatal(err)
					}
					bytes += n
				}
				b.ReportMetric(float64(bytes)/history, "bytes/event")
			}
		})
	}
}
