package hub_test

import (
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// BenchmarkPublishOneUser publishes one entry to a user with 1 or 10
// connections and drains their queues, as each connection's writer would.
func BenchmarkPublishOneUser(b *testing.B) {
	for _, conns := range []int{1, 10} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			h := hub.New(hub.Options{})
			subs := make([]*hub.Subscription, conns)
			for i := range subs {
				subs[i] = h.Subscribe("alice", 16)
				defer subs[i].Close()
			}
			batch := []notify.Entry{entry("alice", 0)}
			spare := make([][]*notify.Entry, conns)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				batch[0].Cursor = notify.Cursor(i + 1)
				h.Publish(batch)
				for j, s := range subs {
					<-s.Ready()
					spare[j] = s.Take(spare[j])
				}
			}
			b.ReportMetric(float64(b.N*conns)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishManyUsers publishes batches of 100 entries spread over
// 10,000 users with one connection each.
func BenchmarkPublishManyUsers(b *testing.B) {
	const users, batchLen = 10_000, 100
	h := hub.New(hub.Options{})
	subs := make([]*hub.Subscription, users)
	ids := make([]notify.UserID, users)
	for i := range subs {
		ids[i] = notify.UserID(fmt.Sprintf("user-%d", i))
		subs[i] = h.Subscribe(ids[i], 4)
		defer subs[i].Close()
	}
	batch := make([]notify.Entry, batchLen)
	spare := make([][]*notify.Entry, batchLen)
	b.ReportAllocs()
	b.ResetTimer()
	next := 0
	for i := range b.N {
		for j := range batch {
			batch[j] = entry(ids[(next+j)%users], notify.Cursor(i+1))
		}
		h.Publish(batch)
		for j := range batch {
			s := subs[(next+j)%users]
			<-s.Ready()
			spare[j] = s.Take(spare[j])
		}
		next = (next + batchLen) % users
	}
	b.ReportMetric(float64(b.N*batchLen)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSubscribe opens and closes a subscription; its B/op is what an
// idle connection's registration costs.
func BenchmarkSubscribe(b *testing.B) {
	h := hub.New(hub.Options{})
	b.ReportAllocs()
	for b.Loop() {
		h.Subscribe("alice", hub.DefaultQueueSize).Close()
	}
}
