package main_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// BenchmarkClusterDelivery measures what a notification costs end to end:
// Notify to one node, and an SSE client of the recipient on another node
// receiving it. It reports acknowledged notifications per second and the
// delivery latency (Notify called → event read by the client), for three
// nodes on Redis against one embedded node, in the same run:
//
//	go test -run '^$' -bench BenchmarkClusterDelivery -benchtime 20000x ./cmd/herald
func BenchmarkClusterDelivery(b *testing.B) {
	const users, callers = 64, 16
	b.Run("embedded-1node", func(b *testing.B) {
		s := startServer(b)
		benchDelivery(b, s, []*server{s}, users, callers)
	})
	b.Run("redis-3nodes", func(b *testing.B) {
		rt := singleTopology(b)
		prefix := clusterPrefix(b, rt.client)
		nodes := startCluster(b, rt, 3, prefix)
		// Streams on nodes 2 and 3; node 1 takes the Notify calls.
		chans := make([]string, users)
		for i := range chans {
			chans[i] = clusterChannel(prefix, fmt.Sprintf("cb-%03d", i))
		}
		benchDelivery(b, nodes[0], nodes[1:], users, callers, func() bool {
			got, err := subscribers(context.Background(), rt.client, chans)
			if err != nil {
				return false
			}
			for _, c := range chans {
				if got[c] != 1 {
					return false
				}
			}
			return true
		})
	})
}

// benchDelivery sends b.N notifications to producer, spread over users
// whose streams are on streamNodes (round robin), and waits until every one
// arrived. ready, if given, says when the streams can receive.
func benchDelivery(b *testing.B, producer *server, streamNodes []*server, users, callers int, ready ...func() bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		received atomic.Int64
		lat      latencies
		wg       sync.WaitGroup
	)
	var streams []*rawStream
	defer func() {
		for _, st := range streams {
			st.Close()
		}
		wg.Wait()
	}()
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("cb-%03d", i)
		st := streamNodes[i%len(streamNodes)].streamFor(b, names[i], "")
		awaitRetry(b, st)
		wg.Go(func() {
			for {
				_, p, err := st.NextNotification(60 * time.Second)
				if err != nil {
					return // closed at the end
				}
				if sent, err := strconv.ParseInt(strings.TrimPrefix(p.Title, "t"), 10, 64); err == nil {
					lat.add([]time.Duration{time.Since(time.Unix(0, sent))})
				}
				received.Add(1)
			}
		})
		streams = append(streams, st)
	}
	for _, r := range ready {
		waitFor(b, 10*time.Second, r, func() string { return "streams not subscribed" })
	}
	clients := dialNotify(b, producer, 1)

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var callersWG sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		callersWG.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				_, err := clients[0].Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
					Audience: &heraldv1.Audience{UserIds: []string{names[i%int64(users)]}},
					Title:    "t" + strconv.FormatInt(time.Now().UnixNano(), 10),
				}})
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	callersWG.Wait()
	acked := time.Since(start)
	want := int64(b.N) - failed.Load()
	waitFor(b, 60*time.Second, func() bool { return received.Load() >= want }, func() string {
		return fmt.Sprintf("received %d of %d", received.Load(), want)
	})
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d Notify calls failed", n)
	}
	// Latencies from the call, so the p50 includes the store's append;
	// the throughput counts acknowledged calls.
	lat.report(b, float64(want), acked)
	b.ReportMetric(0, "ns/op")
}
