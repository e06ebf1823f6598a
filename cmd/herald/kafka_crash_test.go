package main_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// Shape of the crash test's stream: every user's messages go to one
// partition, so each user's inbox order is defined.
const (
	crashPartitions = 6
	crashUsers      = 60
	crashMessages   = 6000
	crashChunk      = 200
	crashKillAt     = 1500 // committed offsets (summed) at which herald is killed
	crashHoldFrom   = 4000 // messages from here on are produced only once the kill began
	// crashPartitionHeader tells the test's balancer the message's partition.
	crashPartitionHeader = "x-test-partition"
)

// TestKafkaCrashRedeliversOnce kills herald with SIGKILL while it consumes a
// topic that is still being written to, then starts a new herald in the same
// group on the same data directory. Every message ends up in its user's
// inbox exactly once and in production order: the messages the first
// process stored but had not committed are redelivered and absorbed by their
// idempotency keys, whether the key came in the message, from the Kafka key,
// or from the partition and offset of a keyless message.
func TestKafkaCrashRedeliversOnce(t *testing.T) {
	t.Parallel()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	const topic, group = "crash.notifications", "crash-group"
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(crashPartitions, topic, topic+".dlq"),
		kfake.GroupMinSessionTimeout(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	addrs := cluster.ListenAddrs()
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("kfake listens on %s, want 127.0.0.1", a)
		}
	}

	dir := t.TempDir()
	args := withArgs("--kafka-brokers", strings.Join(addrs, ","), "--kafka-topic", topic,
		"--kafka-group", group, "--kafka-session-timeout", "1s")
	s1 := startServer(t, args, withDataDir(dir))

	msgs, want := crashStream()
	killing := make(chan struct{})
	release := sync.OnceFunc(func() { close(killing) })
	var produceErr error
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		produceErr = produceCrashStream(ctx, addrs, topic, msgs, killing)
	}()
	// However the test ends, the producer is released and has returned
	// before the broker closes.
	t.Cleanup(func() { release(); <-produced })

	// Kill once enough is committed, with more already fetched and the
	// producer still going.
	var committedBefore int64
	waitFor(t, 15*time.Second, func() bool {
		committedBefore = committedSum(ctx, t, addrs, group, topic)
		return committedBefore >= crashKillAt
	}, func() string {
		return fmt.Sprintf("committed %d of %d before the kill point\n%s", committedBefore, crashKillAt, s1.Logs())
	})
	release()
	s1.Kill()
	killedAt := time.Since(start)

	// With the process gone both figures are final: what the store holds
	// and what the group committed. Everything between them must come again.
	storedAtKill := len(readInboxes(ctx, t, dir))
	committedAtKill := committedSum(ctx, t, addrs, group, topic)
	if int64(storedAtKill) < committedAtKill {
		t.Fatalf("at the kill %d messages committed but only %d stored: committed before durable", committedAtKill, storedAtKill)
	}

	s2 := startServer(t, args, withDataDir(dir))
	<-produced
	if produceErr != nil {
		t.Fatalf("produce: %v", produceErr)
	}
	producedAt := time.Since(start)
	var committedAfter int64
	waitFor(t, 60*time.Second, func() bool {
		committedAfter = committedSum(ctx, t, addrs, group, topic)
		return committedAfter == crashMessages
	}, func() string {
		return fmt.Sprintf("committed %d of %d after the restart\n%s", committedAfter, crashMessages, s2.Logs())
	})
	drainedAt := time.Since(start)
	m := scrapeMetrics(t, s2)
	s2.Stop()

	// Each inbox holds exactly the titles produced for its user, each once,
	// in production order.
	got := readInboxes(ctx, t, dir)
	byUser := make(map[notify.UserID][]string)
	for _, e := range got {
		byUser[e.User] = append(byUser[e.User], e.Notification.Title)
	}
	for u, titles := range want {
		have := byUser[u]
		if strings.Join(have, ",") == strings.Join(titles, ",") {
			continue
		}
		seen := make(map[string]int)
		for _, title := range have {
			seen[title]++
		}
		for title, n := range seen {
			if n > 1 {
				t.Errorf("%s: %s stored %d times", u, title, n)
			}
		}
		missing := 0
		for _, title := range titles {
			if seen[title] == 0 {
				missing++
			}
		}
		t.Errorf("%s: inbox has %d entries, want %d (%d missing); order or content differs:\n got %v\nwant %v",
			u, len(have), len(titles), missing, have, titles)
	}
	if len(got) != crashMessages {
		t.Errorf("store holds %d entries, want %d", len(got), crashMessages)
	}
	if extra := len(byUser) - len(want); extra > 0 {
		t.Errorf("%d inboxes of users nothing was produced for", extra)
	}

	// The second process saw again at least what the first stored without
	// committing, and stored none of it twice. It can see more: a rebalance
	// while the dead member leaves the group can end a generation before
	// its own commits.
	dups := m[`herald_ingest_notifications_total{outcome="duplicate"}`]
	consumed := m["herald_kafka_messages_consumed_total"]
	if guaranteed := float64(int64(storedAtKill) - committedAtKill); dups < guaranteed {
		t.Errorf("second process absorbed %v duplicates, want at least the %v stored but uncommitted at the kill", dups, guaranteed)
	}
	if dl := m[`herald_kafka_messages_dead_lettered_total{reason="decode"}`] +
		m[`herald_kafka_messages_dead_lettered_total{reason="invalid"}`] +
		m[`herald_kafka_messages_dead_lettered_total{reason="oversize"}`]; dl != 0 {
		t.Errorf("%v messages dead-lettered, want none", dl)
	}
	t.Logf("kill at %v: committed %d, stored %d (%d stored but uncommitted); second process consumed %v, absorbed %v duplicates, accepted %v",
		killedAt.Round(time.Millisecond), committedAtKill, storedAtKill, int64(storedAtKill)-committedAtKill,
		consumed, dups, m[`herald_ingest_notifications_total{outcome="accepted"}`])
	t.Logf("produced all by %v, all committed by %v, verified by %v",
		producedAt.Round(time.Millisecond), drainedAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// crashStream returns the messages to produce and, per user, the titles in
// the order produced. A third of the messages have a unique Kafka key, a
// third none, and a third an explicit idempotency key (and the user as Kafka
// key, shared by all of that user's messages).
func crashStream() ([]kafkago.Message, map[notify.UserID][]string) {
	msgs := make([]kafkago.Message, 0, crashMessages)
	want := make(map[notify.UserID][]string, crashUsers)
	for seq := range crashMessages {
		u := seq % crashUsers
		user := fmt.Sprintf("kc%02d", u)
		title := fmt.Sprintf("p-%05d", seq)
		m := kafkago.Message{Headers: []kafkago.Header{{
			Key: crashPartitionHeader, Value: []byte(strconv.Itoa(u % crashPartitions)),
		}}}
		switch seq % 3 {
		case 0:
			m.Key = []byte("kc-key-" + title)
			m.Value = fmt.Appendf(nil, `{"audience":{"userIds":[%q]},"title":%q}`, user, title)
		case 1:
			m.Value = fmt.Appendf(nil, `{"audience":{"userIds":[%q]},"title":%q}`, user, title)
		case 2:
			m.Key = []byte(user)
			m.Value = fmt.Appendf(nil, `{"audience":{"userIds":[%q]},"title":%q,"idempotencyKey":%q}`, user, title, "kc-idem-"+title)
		}
		msgs = append(msgs, m)
		want[notify.UserID(user)] = append(want[notify.UserID(user)], title)
	}
	return msgs, want
}

// produceCrashStream writes msgs in chunks, each chunk acknowledged by all
// replicas before the next, so per-partition order is production order.
// Messages from crashHoldFrom on wait for hold to close, so that some are
// produced while herald is down or restarting.
func produceCrashStream(ctx context.Context, addrs []string, topic string, msgs []kafkago.Message, hold <-chan struct{}) error {
	w := &kafkago.Writer{
		Addr:  kafkago.TCP(addrs...),
		Topic: topic,
		Balancer: kafkago.BalancerFunc(func(m kafkago.Message, partitions ...int) int {
			for _, h := range m.Headers {
				if h.Key == crashPartitionHeader {
					p, _ := strconv.Atoi(string(h.Value))
					return partitions[p%len(partitions)]
				}
			}
			return partitions[0]
		}),
		RequiredAcks: kafkago.RequireAll,
		BatchSize:    crashChunk,
		BatchTimeout: 2 * time.Millisecond,
		BatchBytes:   16 << 20,
	}
	defer w.Close()
	for i := 0; i < len(msgs); i += crashChunk {
		if i == crashHoldFrom {
			select {
			case <-hold:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := w.WriteMessages(ctx, msgs[i:min(i+crashChunk, len(msgs))]...); err != nil {
			return fmt.Errorf("messages %d..: %w", i, err)
		}
	}
	return nil
}

// committedSum returns the group's committed offsets of topic summed over
// partitions (a partition without a commit counts 0). A failed fetch counts
// as -1, which no wait accepts.
func committedSum(ctx context.Context, t *testing.T, addrs []string, group, topic string) int64 {
	t.Helper()
	ps := make([]int, crashPartitions)
	for i := range ps {
		ps[i] = i
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	res, err := cl.OffsetFetch(fctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil || res.Error != nil {
		t.Logf("offset fetch: %v %v", err, res.Error)
		return -1
	}
	var sum int64
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Logf("offset fetch of partition %d: %v", p.Partition, p.Error)
			return -1
		}
		sum += max(p.CommittedOffset, 0)
	}
	return sum
}

// readInboxes opens the store of a stopped herald and returns every entry
// of the crash test's users, each inbox from its start.
func readInboxes(ctx context.Context, t *testing.T, dir string) []notify.Entry {
	t.Helper()
	st, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}()
	var all []notify.Entry
	for u := range crashUsers {
		user := notify.UserID(fmt.Sprintf("kc%02d", u))
		var after notify.Cursor
		for range crashMessages + 1 {
			es, err := st.Read(ctx, user, after, 500)
			if err != nil {
				t.Fatalf("read %s after %d: %v", user, after, err)
			}
			if len(es) == 0 {
				break
			}
			all = append(all, es...)
			after = es[len(es)-1].Cursor
		}
	}
	return all
}
