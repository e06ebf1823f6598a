package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

type nopAppender struct{}

func (nopAppender) Append(_ context.Context, ds []store.Delivery) ([]store.Result, error) {
	out := make([]store.Result, len(ds))
	for i, d := range ds {
		out[i] = store.Result{ID: d.Notification.ID, Recipients: len(d.Recipients)}
	}
	return out, nil
}

func (nopAppender) Publish(_ context.Context, _ *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	return make([]notify.Cursor, len(cs)), nil
}

// BenchmarkNotifyDirect is the common case, one user and no topic, without
// a store: what ingest and the router add.
func BenchmarkNotifyDirect(b *testing.B) {
	svc := ingest.New(router.New(nil), nopAppender{}, ingest.Options{})
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice"}}, Title: "x"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.NotifyOne(context.Background(), "s", n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNotifyKeyed: a notification with an idempotency key, a body
// and data, as payment and order senders send them; the key's content
// fingerprint is computed on this path.
func BenchmarkNotifyKeyed(b *testing.B) {
	svc := ingest.New(router.New(nil), nopAppender{}, ingest.Options{})
	data, err := structpb.NewStruct(map[string]any{"order_id": "ord_8f3a2c", "amount": 129.95, "items": []any{"sku-1", "sku-2"}})
	if err != nil {
		b.Fatal(err)
	}
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice"}}, Title: "Your order shipped",
		Body: "Parcel 1Z999 left the warehouse.", Data: data, IdempotencyKey: "order-ord_8f3a2c-shipped"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.NotifyOne(context.Background(), "s", n); err != nil {
			b.Fatal(err)
		}
	}
}

// generatedTopic has users s000000… up to its size as the subscribers of
// every topic, made page by page.
type generatedTopic int

func (g generatedTopic) TopicSubscribers(_ context.Context, _ notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	start := 0
	if after != "" {
		if _, err := fmt.Sscanf(string(after), "s%d", &start); err != nil {
			return nil, err
		}
		start++
	}
	page := make([]notify.UserID, 0, max(0, min(limit, int(g)-start)))
	for i := start; i < int(g) && len(page) < limit; i++ {
		page = append(page, notify.UserID(fmt.Sprintf("s%06d", i)))
	}
	return page, nil
}

// BenchmarkFanOutEmbedded sends a notification to a topic of 100,000
// subscribers into the embedded store (fsync on), while another sender
// notifies one user directly over and over: the fan-out's entries/s, and
// the latency of those direct notifications during it and when idle.
// Subscribers come from the store, or from a generated source to see the
// appends' share alone.
func BenchmarkFanOutEmbedded(b *testing.B) {
	const subscribers = 100_000
	for _, src := range []string{"store", "generated"} {
		b.Run("subscribers="+src, func(b *testing.B) {
			st, err := embedded.Open(b.TempDir(), embedded.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var subs router.Subscribers = generatedTopic(subscribers)
			if src == "store" {
				subs = st
				gen := generatedTopic(subscribers)
				var after notify.UserID
				for {
					page, _ := gen.TopicSubscribers(context.Background(), "", after, 10_000)
					if len(page) == 0 {
						break
					}
					if _, err := st.Subscribe(context.Background(), []notify.Topic{"building-42"}, page); err != nil {
						b.Fatal(err)
					}
					after = page[len(page)-1]
				}
			}
			benchFanOut(b, ingest.New(router.New(subs), st, ingest.Options{}), subscribers)
		})
	}
}

func benchFanOut(b *testing.B, svc *ingest.Service, subscribers int) {
	ctx := context.Background()
	direct := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"direct"}}, Title: "direct"}
	fan := &heraldv1.Notification{Audience: &heraldv1.Audience{Topics: []string{"building-42"}}, Title: "fan-out"}
	sendDirect := func() time.Duration {
		start := time.Now()
		if _, err := svc.NotifyOne(ctx, "s", direct); err != nil {
			b.Error(err)
		}
		return time.Since(start)
	}
	var idle []time.Duration
	for range 50 {
		idle = append(idle, sendDirect())
	}

	var during []time.Duration
	var fanTime time.Duration
	for b.Loop() {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					during = append(during, sendDirect())
				}
			}
		})
		start := time.Now()
		r, err := svc.NotifyOne(ctx, "s", fan)
		fanTime += time.Since(start)
		close(stop)
		wg.Wait()
		if err != nil || r.Recipients != subscribers {
			b.Fatalf("fan-out = %+v, %v", r, err)
		}
	}
	b.ReportMetric(float64(subscribers)*float64(b.N)/fanTime.Seconds(), "entries/s")
	b.ReportMetric(ms(quantile(idle, 0.5)), "idle-p50-ms")
	b.ReportMetric(ms(quantile(during, 0.5)), "during-p50-ms")
	b.ReportMetric(ms(quantile(during, 0.99)), "during-p99-ms")
	b.ReportMetric(ms(quantile(during, 1)), "during-max-ms")
	b.ReportMetric(float64(len(during))/float64(b.N), "direct/fan-out")
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
