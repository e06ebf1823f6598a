package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// BenchmarkConsume measures messages per second from Kafka into durable
// inboxes: kfake on loopback, the real ingest path and the Pebble store with
// fsync, 6 partitions consumed concurrently, each op draining 20,000
// messages for 1,000 users into a fresh store and group. Sub-benchmarks vary
// the batch size; batch=1 is a message-at-a-time consumer.
//
//	go test -run '^$' -bench Consume -benchtime 3x ./internal/kafka
func BenchmarkConsume(b *testing.B) {
	const (
		topic      = "bench"
		partitions = 6
		users      = 1000
		total      = 20000
	)
	addrs := startCluster(b, partitions, topic)
	msgs := make([]kafkago.Message, total)
	for i := range msgs {
		u := fmt.Sprintf("user-%04d", i%users)
		msgs[i] = kafkago.Message{
			Key:   []byte(fmt.Sprintf("msg-%d", i)),
			Value: fmt.Appendf(nil, `{"audience":{"userIds":[%q]},"title":"Order %d shipped","body":"Your parcel is on its way.","data":{"order":%d}}`, u, i, i),
		}
	}
	produce(b, addrs, topic, msgs)

	groups := 0 // each run needs a group that has not consumed the topic yet
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var elapsed time.Duration
			for range b.N {
				groups++
				elapsed += consumeAll(b, addrs, topic, fmt.Sprintf("bench-%d", groups), batch, total)
			}
			b.ReportMetric(float64(total*b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// consumeAll runs one consumer in a new group over the whole topic into a
// new store and returns how long storing every message took.
func consumeAll(b *testing.B, addrs []string, topic, group string, batch, total int) time.Duration {
	b.StopTimer()
	defer b.StartTimer()
	st, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := ingest.New(router.New(nil), st, ingest.Options{})
	var stored atomic.Int64
	done := make(chan struct{})
	n := notifierFunc(func(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
		rs, err := svc.Notify(ctx, sender, ns)
		if err == nil && stored.Add(int64(len(rs))) == int64(total) {
			close(done)
		}
		return rs, err
	})
	start := time.Now()
	b.StartTimer()
	stop := startConsumer(b, kafka.Config{Brokers: addrs, Topic: topic, Group: group, BatchSize: batch}, n)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("stored %d of %d messages in 2 minutes", stored.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}
