package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// A second consumer joins the group mid-run and leaves again with work in
// flight. Partitions move twice, messages are redelivered across members,
// and still every inbox holds each of its messages once, in partition
// order. The path is the real one: ingest, the router and the Pebble store.
func TestConsumerRebalanceKeepsInboxesExact(t *testing.T) {
	t.Parallel()
	const (
		topic      = "rebalance"
		partitions = 6
		users      = 60
		total      = 3000
		group      = "g-rebalance"
	)
	addrs := startCluster(t, partitions, topic, kfake.GroupMinSessionTimeout(100*time.Millisecond))

	// Each user's messages go to one partition, so each inbox has one
	// order to check. A third of the messages carry their own idempotency
	// key, a third a unique Kafka key, a third nothing (their offset is
	// the key).
	want := make(map[string][]string)
	msgs := make([]kafkago.Message, 0, total)
	for i := range total {
		u := fmt.Sprintf("u%02d", i%users)
		title := fmt.Sprintf("%s-%04d", u, i)
		want[u] = append(want[u], title)
		v := fmt.Sprintf(`{"audience":{"userIds":[%q]},"title":%q`, u, title)
		var key []byte
		switch i % 3 {
		case 0:
			v += fmt.Sprintf(`,"idempotencyKey":"own-%d"`, i)
		case 1:
			key = []byte("k" + strconv.Itoa(i))
		}
		msgs = append(msgs, kafkago.Message{Key: key, Value: []byte(v + "}"),
			Headers: []kafkago.Header{{Key: "p", Value: []byte(strconv.Itoa(i % users % partitions))}}})
	}
	produceTo(t, addrs, topic, msgs, kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int {
		p, _ := strconv.Atoi(string(m.Headers[0].Value))
		return p
	}))

	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc := ingest.New(router.New(nil), st, ingest.Options{})

	var (
		stored  atomic.Int64 // new inbox entries, duplicates not counted
		dups    atomic.Int64
		bJoined = make(chan struct{})
		bBusy   = make(chan struct{})
		allIn   = make(chan struct{})
		once    sync.Once
	)
	count := func(rs []store.Result) {
		for _, r := range rs {
			if r.Duplicate {
				dups.Add(1)
			} else if stored.Add(1) == total {
				close(allIn)
			}
		}
	}
	// A stops after a sixth of the messages until B has partitions, so
	// that B joins mid-run whatever the machine's speed.
	a := notifierFunc(func(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
		if stored.Load() >= total/6 {
			select {
			case <-bJoined:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(testTimeout):
				return nil, fmt.Errorf("second consumer never got partitions: %w", notify.ErrUnavailable)
			}
		}
		rs, err := svc.Notify(ctx, sender, ns)
		count(rs)
		return rs, err
	})
	// B stores a little, then hangs as if busy until it is stopped: it
	// leaves the group with fetched messages neither stored nor committed.
	var bStored atomic.Int64
	b := notifierFunc(func(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
		once.Do(func() { close(bJoined) })
		if bStored.Load() >= 100 {
			select {
			case <-bBusy:
			default:
				close(bBusy)
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}
		rs, err := svc.Notify(ctx, sender, ns)
		bStored.Add(int64(len(rs)))
		count(rs)
		return rs, err
	})

	cfg := kafka.Config{Brokers: addrs, Topic: topic, Group: group, SessionTimeout: time.Second, BatchSize: 20}
	stopA := startConsumer(t, cfg, a)
	select {
	case <-bJoined:
		t.Fatal("second consumer ran before it was started")
	default:
	}
	stopB := startConsumer(t, cfg, b)
	waitFor(t, "the second consumer to store and get busy", bBusy)
	if err := stopB(); err != nil {
		t.Fatalf("second consumer: %v", err)
	}
	waitFor(t, "every message to be stored", allIn)
	// The last commits follow the last appends.
	deadline := time.Now().Add(testTimeout)
	for sumCommitted(t, addrs, group, topic, partitions) != total {
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets sum to %d, want %d", sumCommitted(t, addrs, group, topic, partitions), total)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker, bounded above
	}
	if err := stopA(); err != nil {
		t.Fatalf("first consumer: %v", err)
	}

	t.Logf("second consumer stored %d entries before leaving; %d redeliveries absorbed as duplicates", bStored.Load(), dups.Load())
	for u, titles := range want {
		es, err := st.Read(t.Context(), notify.UserID(u), 0, total)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(es))
		for i, e := range es {
			got[i] = e.Notification.Title
		}
		if !slices.Equal(got, titles) {
			t.Errorf("inbox of %s: got %d entries %s, want %d %s", u, len(got), strings.Join(got, " "), len(titles), strings.Join(titles, " "))
		}
	}
}

type notifierFunc func(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error)

func (f notifierFunc) Notify(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
	return f(ctx, sender, ns)
}

func waitFor(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
	}
}

func sumCommitted(t *testing.T, addrs []string, group, topic string, partitions int) int64 {
	t.Helper()
	var sum int64
	for _, off := range committed(t, addrs, group, topic, partitions) {
		sum += max(off, 0)
	}
	return sum
}
