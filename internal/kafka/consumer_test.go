package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/kafka"
)

func jsonMessage(key, user, title, idemKey string) kafkago.Message {
	v := fmt.Sprintf(`{"audience":{"userIds":[%q]},"title":%q`, user, title)
	if idemKey != "" {
		v += fmt.Sprintf(`,"idempotencyKey":%q`, idemKey)
	}
	return kafkago.Message{Key: []byte(key), Value: []byte(v + "}")}
}

// Every user's messages arrive exactly once and in order (one user's
// messages share a key, hence a partition), and the group's offsets end at
// the end of every partition.
func TestConsumerDeliversAllInPartitionOrder(t *testing.T) {
	t.Parallel()
	const (
		topic      = "notes"
		partitions = 6
		users      = 500
		total      = 10000
	)
	addrs := startCluster(t, partitions, topic)
	msgs := make([]kafkago.Message, 0, total)
	for i := range total {
		u := fmt.Sprintf("u%03d", i%users)
		msgs = append(msgs, jsonMessage(u, u, fmt.Sprintf("%s-%d", u, i/users), fmt.Sprintf("m%d", i)))
	}
	produce(t, addrs, topic, msgs)

	f := newFakeNotifier(total)
	stop := startConsumer(t, kafka.Config{Brokers: addrs, Topic: topic, Group: "g1"}, f)
	f.wait(t)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.byUser) != users {
		t.Errorf("%d users got notifications, want %d", len(f.byUser), users)
	}
	for u, titles := range f.byUser {
		want := make([]string, total/users)
		for i := range want {
			want[i] = fmt.Sprintf("%s-%d", u, i)
		}
		if !slices.Equal(titles, want) {
			t.Errorf("user %s got %v, want %v", u, titles, want)
		}
	}
	if !f.senders["kafka:"+topic] || len(f.senders) != 1 {
		t.Errorf("senders %v, want only kafka:%s", f.senders, topic)
	}
	var sum int64
	for p, off := range committed(t, addrs, "g1", topic, partitions) {
		if off < 0 {
			t.Errorf("partition %d has no committed offset", p)
		}
		sum += off
	}
	if sum != total {
		t.Errorf("committed offsets sum to %d, want %d", sum, total)
	}
}

// Bad messages go to the dead-letter topic once each, with their reason,
// and do not hold up the good ones around them.
func TestConsumerDeadLettersBadMessages(t *testing.T) {
	t.Parallel()
	const (
		topic      = "poison"
		partitions = 6
		bigValue   = 2 << 20
	)
	// The topic takes messages of up to 3 MiB, the dead-letter topic the
	// usual 1 MiB: the 2 MiB message is over Herald's limit and then too
	// big for the dead-letter topic too.
	addrs := startCluster(t, partitions, topic, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "3145728"}))
	setTopicConfig(t, addrs, topic+".dlq", "max.message.bytes", "1048588")

	pb, err := proto.Marshal(&heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: []string{"pb-user"}},
		Title:    "binary",
	})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]kafkago.Message{ // by the reason expected in the dead letter
		"decode":   {Key: []byte("bad-json"), Value: []byte(`{"audience":`), Headers: []kafkago.Header{{Key: "trace", Value: []byte("t1")}}},
		"invalid":  {Key: []byte("bad-audience"), Value: []byte(`{"title":"nobody"}`)},
		"oversize": jsonMessage("bad-size", "big", strings.Repeat("x", bigValue), ""),
		"decode ":  {Key: []byte("bad-field"), Value: []byte(`{"audience":{"userIds":["u1"]},"title":"t","bogus":1}`)},
	}
	var msgs []kafkago.Message
	goods := 0
	for i := range 40 {
		// The Kafka key is the idempotency key of these.
		msgs = append(msgs, jsonMessage(fmt.Sprintf("g%d", i), fmt.Sprintf("u%d", i%4), fmt.Sprintf("good-%d", i), ""))
		goods++
		if i%10 == 5 {
			for _, reason := range []string{"decode", "invalid", "oversize", "decode "} {
				if m, ok := bad[reason]; ok {
					msgs = append(msgs, m)
					delete(bad, reason)
					break
				}
			}
		}
	}
	// Kafka key g3 again, another notification: a conflict, after g3 in
	// g3's partition.
	msgs = append(msgs, jsonMessage("g3", "u3", "not good-3", ""))
	msgs = append(msgs, kafkago.Message{Key: []byte("pb"), Value: pb,
		Headers: []kafkago.Header{{Key: "Content-Type", Value: []byte("application/x-protobuf")}}})
	goods++
	produce(t, addrs, topic, msgs)

	f := newFakeNotifier(goods)
	reg := prometheus.NewRegistry()
	stop := startConsumer(t, kafka.Config{Brokers: addrs, Topic: topic, Group: "g2", Strict: true, Registerer: reg}, f)
	f.wait(t)

	// Read the five dead letters back.
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: addrs, GroupID: "check", Topic: topic + ".dlq",
		MaxWait: 100 * time.Millisecond, StartOffset: kafkago.FirstOffset})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	got := make(map[string]string) // key → reason
	for range 5 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dead letters (%d so far): %v", len(got), err)
		}
		h := headers(m)
		got[string(m.Key)] = h[kafka.HeaderError]
		if h[kafka.HeaderSourceTopic] != topic || h[kafka.HeaderSourcePartition] == "" || h[kafka.HeaderSourceOffset] == "" {
			t.Errorf("dead letter %s lacks source headers: %v", m.Key, h)
		}
		if string(m.Key) == "bad-json" && (h["trace"] != "t1" || string(m.Value) != `{"audience":`) {
			t.Errorf("dead letter bad-json lost its value or headers: %q %v", m.Value, h)
		}
		if string(m.Key) == "bad-size" {
			if len(m.Value) != 0 || h[kafka.HeaderValueDropped] == "" {
				t.Errorf("dead letter bad-size: %d bytes of value, %s=%q; want the value dropped", len(m.Value), kafka.HeaderValueDropped, h[kafka.HeaderValueDropped])
			}
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := map[string]string{"bad-json": "decode", "bad-audience": "invalid", "bad-size": "oversize", "bad-field": "decode", "g3": "idempotency_conflict"}
	if !maps.Equal(got, want) {
		t.Errorf("dead letters %v, want %v", got, want)
	}
	for name, want := range map[string]float64{
		"herald_kafka_messages_dead_lettered_total": 5,
		"herald_kafka_messages_consumed_total":      float64(len(msgs)),
		"herald_kafka_messages_committed_total":     float64(len(msgs)),
	} {
		if got := metricSum(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if n := messageCount(t, addrs, topic+".dlq", partitions); n != 5 {
		t.Errorf("dead-letter topic holds %d messages, want 5", n)
	}
	var sum int64
	for _, off := range committed(t, addrs, "g2", topic, partitions) {
		sum += max(off, 0)
	}
	if sum != int64(len(msgs)) {
		t.Errorf("committed offsets sum to %d, want %d", sum, len(msgs))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stored != goods || f.keys["kafka:"+topic+"\x00g7"] != "good-7" {
		t.Errorf("stored %d (keys %d), want %d keyed by the Kafka key", f.stored, len(f.keys), goods)
	}
	if !slices.Equal(f.byUser["pb-user"], []string{"binary"}) {
		t.Errorf("protobuf message: got %v", f.byUser["pb-user"])
	}
}

func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func headers(m kafkago.Message) map[string]string {
	h := make(map[string]string)
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// While the store is down nothing is committed past the failing message;
// once it is back every message is stored once, in order.
func TestConsumerRetriesStoreOutage(t *testing.T) {
	t.Parallel()
	const (
		topic    = "outage"
		total    = 50
		failures = 5
	)
	addrs := startCluster(t, 1, topic)
	var msgs []kafkago.Message
	for i := range total {
		msgs = append(msgs, jsonMessage("k", "u1", fmt.Sprintf("n%d", i), fmt.Sprintf("m%d", i)))
	}
	produce(t, addrs, topic, msgs)

	f := newFakeNotifier(total)
	f.failFirst = failures
	var (
		mu          sync.Mutex
		seenOffsets []int64
	)
	f.onFail = func(int) {
		off := committed(t, addrs, "g3", topic, 1)[0]
		mu.Lock()
		seenOffsets = append(seenOffsets, off)
		mu.Unlock()
	}
	stop := startConsumer(t, kafka.Config{Brokers: addrs, Topic: topic, Group: "g3", RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond}, f)
	f.wait(t)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seenOffsets) != failures {
		t.Errorf("%d failing calls observed, want %d", len(seenOffsets), failures)
	}
	for i, off := range seenOffsets {
		if off > 0 {
			t.Errorf("during failure %d the group had committed offset %d, past the failing message", i+1, off)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := make([]string, total)
	for i := range want {
		want[i] = fmt.Sprintf("n%d", i)
	}
	if !slices.Equal(f.byUser["u1"], want) {
		t.Errorf("stored %v, want %v", f.byUser["u1"], want)
	}
	if f.calls-failures != len(f.batches) {
		t.Errorf("%d calls after the outage for %d batches stored", f.calls-failures, len(f.batches))
	}
	if off := committed(t, addrs, "g3", topic, 1)[0]; off != total {
		t.Errorf("committed offset %d, want %d", off, total)
	}
}
