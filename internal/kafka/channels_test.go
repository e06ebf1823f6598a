package kafka_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// Messages naming channels go to the channels through the real path
// (ingest, the Pebble store); one naming a malformed channel goes to the
// dead-letter topic as invalid, naming the field, and holds up neither the
// messages of its batch nor those after it.
func TestConsumerDeadLettersBadChannel(t *testing.T) {
	t.Parallel()
	const topic = "rooms"
	addrs := startCluster(t, 1, topic)
	msgs := []kafkago.Message{
		{Key: []byte("m1"), Value: []byte(`{"audience":{"channels":["rooms/dev"]},"title":"first"}`)},
		{Key: []byte("bad-channel"), Value: []byte(`{"audience":{"channels":["rooms/dev","rooms dev"]},"title":"bad"}`)},
		{Key: []byte("m2"), Value: []byte(`{"audience":{"userIds":["alice"],"channels":["rooms/dev"]},"title":"second"}`)},
	}
	produce(t, addrs, topic, msgs)

	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	stop := startConsumer(t, kafka.Config{Brokers: addrs, Topic: topic, Group: "g-rooms"}, ingest.New(router.New(st), st, ingest.Options{}))

	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: addrs, GroupID: "check", Topic: topic + ".dlq",
		MaxWait: 100 * time.Millisecond, StartOffset: kafkago.FirstOffset})
	defer r.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("read the dead letter: %v", err)
	}
	h := headers(m)
	if string(m.Key) != "bad-channel" || h[kafka.HeaderError] != "invalid" ||
		!strings.Contains(h[kafka.HeaderErrorDetail], "audience.channels[1]") {
		t.Errorf("dead letter %s: %v; want bad-channel, invalid, naming audience.channels[1]", m.Key, h)
	}

	// The good ones are in the channel, in order, once committed.
	deadline := time.Now().Add(testTimeout)
	for {
		var sum int64
		for _, off := range committed(t, addrs, "g-rooms", topic, 1) {
			sum += max(off, 0)
		}
		if sum == int64(len(msgs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed %d of %d messages within %v", sum, len(msgs), testTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	es, err := st.ChannelRead(t.Context(), "rooms/dev", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, e := range es {
		titles = append(titles, e.Notification.Title)
	}
	if !slices.Equal(titles, []string{"first", "second"}) {
		t.Errorf("rooms/dev holds %q, want first and second, not the dead letter's", titles)
	}
	if n := messageCount(t, addrs, topic+".dlq", 1); n != 1 {
		t.Errorf("dead-letter topic holds %d messages, want 1", n)
	}
	if last, err := st.Last(t.Context(), "alice"); err != nil || last != 1 {
		t.Errorf("alice's last cursor = %d (%v), want 1", last, err)
	}
}
