package main_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// TestKafkaKeylessAfterBrokerRestart: herald's embedded broker starts empty
// each time, as `make run` runs it, so offsets start again at 0 after a
// restart. Keyless messages sent after it, one of them byte for byte the
// same as one sent before at the same offset, are each stored: an offset
// identifies a message only together with its content and timestamp.
func TestKafkaKeylessAfterBrokerRestart(t *testing.T) {
	t.Parallel()
	const user = "keyless"
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	stored := func(s *server) int {
		var l restList
		if code, b := restCall(t, s, http.MethodGet, "/v1/inbox?page_size=100", bearerFor(t, user), nil, &l); code != http.StatusOK {
			t.Fatalf("inbox: %d %s", code, b)
		}
		return len(l.Entries)
	}
	// produce writes keyless messages to partition 0, so that the offsets
	// of the second run are those of the first.
	produce := func(s *server, titles ...string) {
		t.Helper()
		w := &kafkago.Writer{
			Addr:         kafkago.TCP(s.KafkaAddr),
			Topic:        "herald.notifications",
			Balancer:     kafkago.BalancerFunc(func(_ kafkago.Message, ps ...int) int { return ps[0] }),
			RequiredAcks: kafkago.RequireAll,
			BatchTimeout: time.Millisecond,
		}
		defer w.Close()
		msgs := make([]kafkago.Message, len(titles))
		for i, title := range titles {
			msgs[i] = kafkago.Message{Value: fmt.Appendf(nil, `{"audience":{"user_ids":[%q]},"title":%q}`, user, title)}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	run := func(want int, titles ...string) {
		t.Helper()
		s := startServer(t, withDataDir(dir), withArgs("--kafka-embedded", "--kafka-embedded-addr=127.0.0.1:0"))
		if s.KafkaAddr == "" {
			t.Fatalf("no embedded broker address in the start log:\n%s", s.Logs())
		}
		produce(s, titles...)
		got := 0
		waitFor(t, 30*time.Second, func() bool { got = stored(s); return got >= want },
			func() string { return fmt.Sprintf("inbox holds %d entries, want %d\n%s", got, want, s.Logs()) })
		s.Stop()
		if got != want {
			t.Fatalf("inbox holds %d entries, want %d", got, want)
		}
	}
	run(3, "same text", "before 1", "before 2")
	// Offsets 0, 1 and 2 again; offset 0 with the same bytes as before.
	run(6, "same text", "after 1", "after 2")
}
