package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/kafka"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/validate"
)

// testTimeout bounds every wait of a test.
const testTimeout = 15 * time.Second

// startCluster starts an in-process Kafka on 127.0.0.1 with topic and its
// dead-letter topic, each with partitions partitions.
func startCluster(t testing.TB, partitions int32, topic string, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, topic+".dlq")}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func produce(t testing.TB, addrs []string, topic string, msgs []kafkago.Message) {
	t.Helper()
	produceTo(t, addrs, topic, msgs, &kafkago.Hash{})
}

func produceTo(t testing.TB, addrs []string, topic string, msgs []kafkago.Message, b kafkago.Balancer) {
	t.Helper()
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(addrs...),
		Topic:        topic,
		Balancer:     b,
		RequiredAcks: kafkago.RequireAll,
		BatchSize:    len(msgs),
		BatchTimeout: 5 * time.Millisecond,
		BatchBytes:   16 << 20,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce %d messages: %v", len(msgs), err)
	}
}

// startConsumer runs a Consumer until the returned stop is called; stop
// returns Run's error.
func startConsumer(t testing.TB, cfg kafka.Config, n kafka.Notifier) (stop func() error) {
	t.Helper()
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 100 * time.Millisecond
	}
	c, err := kafka.NewConsumer(cfg, n, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(testTimeout):
				runErr = fmt.Errorf("Run did not return within %v of cancel", testTimeout)
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// setTopicConfig sets one configuration entry of topic.
func setTopicConfig(t *testing.T, addrs []string, topic, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	res, err := cl.AlterConfigs(ctx, &kafkago.AlterConfigsRequest{Resources: []kafkago.AlterConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic,
		ResourceName: topic,
		Configs:      []kafkago.AlterConfigRequestConfig{{Name: name, Value: value}},
	}}})
	if err == nil {
		for _, e := range res.Errors {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", name, value, topic, err)
	}
}

// committed returns the group's committed offset of each partition (-1
// where none).
func committed(t *testing.T, addrs []string, group, topic string, partitions int) map[int]int64 {
	t.Helper()
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	res, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err != nil {
		t.Errorf("offset fetch: %v", err)
		return nil
	}
	out := make(map[int]int64)
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// messageCount returns how many messages topic holds over all partitions.
func messageCount(t *testing.T, addrs []string, topic string, partitions int) int64 {
	t.Helper()
	var reqs []kafkago.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cl := &kafkago.Client{Addr: kafkago.TCP(addrs...)}
	res, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	var n int64
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", topic, p.Partition, p.Error)
		}
		n += p.LastOffset - p.FirstOffset
	}
	return n
}

// fakeNotifier stores notifications in memory like the real path: it
// refuses an empty audience or title with a *validate.Error,
// stores a sender's idempotency key once, and refuses the key with another
// title with an *ingest.ConflictError.
type fakeNotifier struct {
	mu        sync.Mutex
	calls     int
	batches   []int               // sizes of the batches stored
	failFirst int                 // the first failFirst calls fail with notify.ErrUnavailable
	onFail    func(call int)      // called, unlocked, on each failing call
	keys      map[string]string   // idempotency key → title
	byUser    map[string][]string // titles in the order stored
	stored    int
	target    int
	done      chan struct{} // closed when stored reaches target
	senders   map[string]bool
}

func newFakeNotifier(target int) *fakeNotifier {
	return &fakeNotifier{
		keys:    make(map[string]string),
		byUser:  make(map[string][]string),
		target:  target,
		done:    make(chan struct{}),
		senders: make(map[string]bool),
	}
}

// Notify stores ns all or none, like ingest.Service.Notify.
func (f *fakeNotifier) Notify(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
	f.mu.Lock()
	f.calls++
	call := f.calls
	if call <= f.failFirst {
		f.mu.Unlock()
		if f.onFail != nil {
			f.onFail(call)
		}
		return nil, fmt.Errorf("fake store: %w", notify.ErrUnavailable)
	}
	defer f.mu.Unlock()
	var vs []validate.FieldViolation
	for i, n := range ns {
		if a := n.GetAudience(); len(a.GetUserIds()) == 0 && len(a.GetTopics()) == 0 && len(a.GetChannels()) == 0 {
			vs = append(vs, validate.FieldViolation{Field: fmt.Sprintf("notifications[%d].audience", i), Description: "required"})
		}
		if n.GetTitle() == "" {
			vs = append(vs, validate.FieldViolation{Field: fmt.Sprintf("notifications[%d].title", i), Description: "required"})
		}
	}
	if vs != nil {
		return nil, &validate.Error{Violations: vs}
	}
	f.batches = append(f.batches, len(ns))
	rs := make([]store.Result, len(ns))
	var conflict *ingest.ConflictError
	for i, n := range ns {
		f.senders[sender] = true
		if k := n.GetIdempotencyKey(); k != "" {
			if title, ok := f.keys[sender+"\x00"+k]; ok {
				if title != n.GetTitle() {
					// Another notification under the key: refused, the
					// others stored, as ingest does.
					if conflict == nil {
						conflict = &ingest.ConflictError{}
					}
					conflict.Conflicts = append(conflict.Conflicts, ingest.KeyConflict{Field: fmt.Sprintf("notifications[%d].idempotency_key", i), ID: k})
					continue
				}
				rs[i] = store.Result{ID: k, Duplicate: true}
				continue
			}
			f.keys[sender+"\x00"+k] = n.GetTitle()
		}
		for _, u := range n.GetAudience().GetUserIds() {
			f.byUser[u] = append(f.byUser[u], n.GetTitle())
		}
		f.stored++
		if f.stored == f.target {
			close(f.done)
		}
		rs[i] = store.Result{ID: n.GetIdempotencyKey(), Recipients: len(n.GetAudience().GetUserIds())}
	}
	if conflict != nil {
		return nil, conflict
	}
	return rs, nil
}

// wait blocks until target notifications were stored.
func (f *fakeNotifier) wait(t *testing.T) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(testTimeout):
		f.mu.Lock()
		defer f.mu.Unlock()
		t.Fatalf("stored %d of %d notifications within %v", f.stored, f.target, testTimeout)
	}
}
