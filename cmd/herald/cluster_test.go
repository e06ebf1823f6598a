package main_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/heraldhq/herald/internal/notify"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

// These tests run several herald processes with --store=redis on one Redis
// (topology_test.go): the shared one at testenv.RedisAddr (missing: skipped,
// or failed under CI), one a test starts for itself, or a Redis Cluster or
// Sentinel setup of the test's own (internal/redistest). Each test uses a key
// prefix of its own and deletes its keys at the end.

// TestClusterFanOut: a notification sent to one node reaches the user's
// streams on the two others, SSE and gRPC alike, and so does a read event,
// on one Redis and on a Redis Cluster.
func TestClusterFanOut(t *testing.T) {
	t.Parallel()
	onTopologies(t, testClusterFanOut)
}

func testClusterFanOut(t *testing.T, rt *redisTopology) {
	rdb := rt.client
	prefix := clusterPrefix(t, rdb)
	nodes := startCluster(t, rt, 3, prefix)

	sse2 := nodes[1].streamFor(t, "alice", "")
	sse3 := nodes[2].streamFor(t, "alice", "")
	g3, _ := grpcStream(t, nodes[2].inboxClient(t), "alice", "")
	waitSubscribed(t, rdb, prefix, 2, "alice")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	nc := nodes[0].notifyClient(t)
	var ids []string
	for i := range 3 {
		r, err := notifyUser(ctx, nc, "alice", fmt.Sprintf("hello %d", i))
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
		ids = append(ids, r.GetId())
	}
	for name, st := range map[string]*rawStream{"node 2": sse2, "node 3": sse3} {
		for i, id := range ids {
			ev, p, err := st.NextNotification(10 * time.Second)
			if err != nil {
				t.Fatalf("%s SSE: %v", name, err)
			}
			if p.ID != id || ev.ID != strconv.Itoa(i+1) {
				t.Errorf("%s SSE event %d: id %s cursor %s, want %s cursor %d", name, i, p.ID, ev.ID, id, i+1)
			}
		}
	}
	for i, id := range ids {
		if ev := recvEvent(t, g3); ev.GetId() != id || ev.GetCursor() != strconv.Itoa(i+1) {
			t.Errorf("node 3 gRPC event %d: %s/%s, want %s/%d", i, ev.GetId(), ev.GetCursor(), id, i+1)
		}
	}

	// A read event made on node 1 reaches the streams on the others.
	code, body := restCall(t, nodes[0], http.MethodPost, "/v1/inbox:mark", bearerFor(t, "alice"),
		map[string]any{"action": "MARK_ACTION_READ", "up_to_cursor": "3"}, nil)
	if code != http.StatusOK {
		t.Fatalf("mark: %d %s", code, body)
	}
	for name, st := range map[string]*rawStream{"node 2": sse2, "node 3": sse3} {
		ev, err := st.Next(10 * time.Second)
		if err != nil || ev.Event != notify.EventRead || !strings.Contains(ev.Data, `"unread":0`) {
			t.Errorf("%s: got %+v (err %v), want a read event with unread 0", name, ev, err)
		}
	}
}

// clusterClient is an SSE client that reconnects, to another node if its
// own is gone, from the last event ID it saw.
type clusterClient struct {
	user string

	mu         sync.Mutex
	titles     []string
	cursors    []uint64
	reconnects int
	err        error
}

func (c *clusterClient) snapshot() (titles []string, reconnects int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.titles), c.reconnects, c.err
}

// run reads until ctx ends, opening the stream on addrs() (the first node
// that accepts) whenever it breaks.
func (c *clusterClient) run(ctx context.Context, first *rawStream, addrs func() []string) {
	st := first
	last := ""
	for ctx.Err() == nil {
		if st == nil {
			for _, a := range addrs() {
				s, err := dialStream(ctx, a, c.user, last)
				if err == nil {
					st = s
					break
				}
			}
			if st == nil {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			c.mu.Lock()
			c.reconnects++
			c.mu.Unlock()
		}
		// Any failure, a timeout included (the body reader does not
		// recover from one), means a new connection from the last ID.
		ev, p, err := st.NextNotification(3 * time.Second)
		if err != nil {
			st.Close()
			st = nil
			continue
		}
		cur, err := strconv.ParseUint(ev.ID, 10, 64)
		c.mu.Lock()
		if err != nil && c.err == nil {
			c.err = fmt.Errorf("event id %q: %w", ev.ID, err)
		}
		c.titles = append(c.titles, p.Title)
		c.cursors = append(c.cursors, cur)
		c.mu.Unlock()
		last = ev.ID
	}
	if st != nil {
		st.Close()
	}
}

// checkExactlyOnce compares what a client received with what was
// acknowledged for its user, in order.
func checkExactlyOnce(t *testing.T, c *clusterClient, acked []string) {
	t.Helper()
	got, _, err := c.snapshot()
	if err != nil {
		t.Errorf("%s: %v", c.user, err)
	}
	seen := make(map[string]int, len(got))
	for _, title := range got {
		seen[title]++
	}
	for _, title := range acked {
		if seen[title] != 1 {
			t.Errorf("%s: acknowledged %q received %d times, want 1", c.user, title, seen[title])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 1; i < len(c.cursors); i++ {
		if c.cursors[i] <= c.cursors[i-1] {
			t.Errorf("%s: cursor %d after %d", c.user, c.cursors[i], c.cursors[i-1])
			break
		}
	}
}

// TestClusterNodeKilled kills a node with SIGKILL while its clients stream
// and a producer on another node keeps sending: the clients reconnect to the
// third node with their Last-Event-ID and get every acknowledged
// notification exactly once; on one Redis and on a Redis Cluster.
func TestClusterNodeKilled(t *testing.T) {
	t.Parallel()
	onTopologies(t, testClusterNodeKilled)
}

func testClusterNodeKilled(t *testing.T, rt *redisTopology) {
	rdb := rt.client
	prefix := clusterPrefix(t, rdb)
	nodes := startCluster(t, rt, 3, prefix)
	users := []string{"fo-0", "fo-1", "fo-2", "fo-3"}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	clients := make([]*clusterClient, len(users))
	var wg sync.WaitGroup
	defer wg.Wait()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	for i, u := range users {
		clients[i] = &clusterClient{user: u}
		first := nodes[1].streamFor(t, u, "")
		wg.Go(func() { clients[i].run(readCtx, first, func() []string { return []string{nodes[2].HTTPAddr} }) })
	}
	waitSubscribed(t, rdb, prefix, 1, users...)

	nc := nodes[0].notifyClient(t)
	acked := make(map[string][]string)
	round := 0
	produce := func(rounds int) {
		t.Helper()
		for range rounds {
			for _, u := range users {
				title := fmt.Sprintf("%s-%04d", u, round)
				if _, err := notifyUser(ctx, nc, u, title); err != nil {
					t.Fatalf("Notify %s: %v", title, err)
				}
				acked[u] = append(acked[u], title)
			}
			round++
		}
	}
	produce(50)
	nodes[1].Kill()
	// Keep sending while the clients find node 3...
	waitReconnected := func() bool {
		for _, c := range clients {
			if _, n, _ := c.snapshot(); n == 0 {
				return false
			}
		}
		return true
	}
	for !waitReconnected() {
		produce(1)
		if ctx.Err() != nil {
			t.Fatal("clients did not reconnect")
		}
	}
	// ...and once node 3 listens for them, a little more: an entry
	// published before then reaches them by the replay or the gap fill.
	waitSubscribed(t, rdb, prefix, 1, users...)
	produce(20)

	waitFor(t, 20*time.Second, func() bool {
		for _, c := range clients {
			if got, _, _ := c.snapshot(); len(got) < len(acked[c.user]) {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for _, c := range clients {
			got, n, _ := c.snapshot()
			fmt.Fprintf(&b, "%s: %d of %d after %d reconnects; ", c.user, len(got), len(acked[c.user]), n)
		}
		return b.String()
	})
	stopReading()
	wg.Wait()
	for _, c := range clients {
		checkExactlyOnce(t, c, acked[c.user])
	}
	t.Logf("%d rounds of %d users, node 2 killed after round 50", round, len(users))
}

// TestClusterRedisRestart kills and restarts the cluster's Redis under
// load: Notify fails with UNAVAILABLE while it is down and never
// acknowledges what it did not store, the nodes recover by themselves, and
// every acknowledged notification is in its user's inbox exactly once.
func TestClusterRedisRestart(t *testing.T) {
	t.Parallel()
	r := startOwnRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	defer rdb.Close()
	const prefix = "herald-test-restart:"
	// Every acknowledged notification must still be there at the end: the
	// producers are unpaced, and a slow run passed the default of 1,000
	// per user.
	nodes := startCluster(t, singleAt(rdb, r.addr), 2, prefix, "--retention-count=1000000")
	users := []string{"rr-0", "rr-1", "rr-2", "rr-3"}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	began := time.Now()
	phase := func(what string) { t.Logf("%s at %v", what, time.Since(began).Round(time.Millisecond)) }
	// A streaming client of rr-0 on node 2 reconnects through it all.
	watcher := &clusterClient{user: users[0]}
	var wg sync.WaitGroup
	defer wg.Wait()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading() // before wg.Wait: the watcher reads until then
	first := nodes[1].streamFor(t, users[0], "")
	wg.Go(func() { watcher.run(readCtx, first, func() []string { return []string{nodes[1].HTTPAddr} }) })

	var (
		mu       sync.Mutex
		acked    = make(map[string][]string) // user → IDs
		ackedT   = make(map[string][]string) // user → titles
		failures = make(map[codes.Code]int)
		total    int
	)
	stop := make(chan struct{})
	var producers sync.WaitGroup
	for i, u := range users {
		nc := nodes[i%len(nodes)].notifyClient(t)
		producers.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				title := fmt.Sprintf("%s-%05d", u, seq)
				callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := notifyUser(callCtx, nc, u, title)
				callCancel()
				mu.Lock()
				if err == nil {
					acked[u] = append(acked[u], res.GetId())
					ackedT[u] = append(ackedT[u], title)
					total++
				} else {
					failures[status.Code(err)]++
				}
				mu.Unlock()
				if err != nil {
					select { // do not spin while Redis is away
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		})
	}
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return total }
	failed := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range failures {
			n += v
		}
		return n
	}
	defer func() { close(stop); producers.Wait() }()

	waitFor(t, 20*time.Second, func() bool { return ackedNow() >= 200 }, func() string { return "fewer than 200 acknowledged before the restart" })
	phase("200 acknowledged")
	r.kill()
	waitFor(t, 20*time.Second, func() bool { return failed() >= 8 }, func() string { return "Notify did not fail while Redis was down" })
	// Readiness is checked every second in the background.
	waitFor(t, 5*time.Second, func() bool { return httpStatus(t, nodes[0].URL("/readyz")) == http.StatusServiceUnavailable },
		func() string { return "readyz did not turn 503 with Redis down" })
	ackedDown := ackedNow()
	phase("Redis down, Notify failing")
	r.start()
	waitFor(t, 30*time.Second, func() bool { return ackedNow() >= ackedDown+200 }, func() string {
		return fmt.Sprintf("acknowledged %d, want %d: the nodes did not recover\n%s", ackedNow(), ackedDown+200, nodes[0].Logs())
	})
	phase("200 more acknowledged after the restart")
	// Each failed probe takes a dead connection out of the pool, so
	// readiness comes back within a few probes.
	probes := 0
	waitFor(t, 10*time.Second, func() bool {
		probes++
		return httpStatus(t, nodes[0].URL("/readyz")) == http.StatusOK
	}, func() string { return "readyz did not return to 200 after the restart" })
	t.Logf("readyz back to 200 at probe %d after the restart", probes)
	if probes > 1 {
		for line := range strings.Lines(nodes[0].Logs()) {
			if strings.Contains(line, "readyz: store not ready") {
				t.Logf("last readyz failure: %s", strings.TrimSpace(line))
			}
		}
	}
	// The watcher's node listens again; a few more, then stop.
	waitSubscribed(t, rdb, prefix, 1, users[0])
	phase("watcher's node subscribed again")
	n := ackedNow()
	waitFor(t, 20*time.Second, func() bool { return ackedNow() >= n+40 }, func() string { return "no progress after resubscribe" })
	close(stop)
	producers.Wait()
	stop = make(chan struct{}) // for the deferred close
	phase("producers stopped")

	mu.Lock()
	defer mu.Unlock()
	for code, n := range failures {
		if code != codes.Unavailable {
			t.Errorf("%d Notify calls failed with %v; want only UNAVAILABLE", n, code)
		}
	}

	// Every acknowledged notification is in its user's inbox, once.
	st, err := redisstore.Open(ctx, redisstore.Options{Client: rdb, Prefix: prefix, RetentionCount: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, u := range users {
		count := make(map[string]int)
		var after notify.Cursor
		for {
			es, err := st.Read(ctx, notify.UserID(u), after, 500)
			if err != nil {
				t.Fatalf("read %s: %v", u, err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				count[e.Notification.ID]++
			}
			after = es[len(es)-1].Cursor
		}
		for _, id := range acked[u] {
			if count[id] != 1 {
				t.Errorf("%s: acknowledged %s stored %d times, want 1", u, id, count[id])
			}
		}
	}

	// And the watcher saw each of rr-0's acknowledged ones exactly once.
	waitFor(t, 20*time.Second, func() bool {
		got, _, _ := watcher.snapshot()
		return len(got) >= len(ackedT[users[0]])
	}, func() string {
		got, n, _ := watcher.snapshot()
		var b strings.Builder
		for k, v := range scrapeMetrics(t, nodes[1]) {
			if strings.HasPrefix(k, "herald_bus") || strings.HasPrefix(k, "herald_hub") || strings.HasPrefix(k, "herald_sse") {
				fmt.Fprintf(&b, "%s=%v\n", k, v)
			}
		}
		return fmt.Sprintf("watcher got %d of %d after %d reconnects\nnode 2: %s\n%s", len(got), len(ackedT[users[0]]), n, b.String(), nodes[1].Logs())
	})
	stopReading()
	wg.Wait()
	checkExactlyOnce(t, watcher, ackedT[users[0]])
	t.Logf("acknowledged %d; failed while down: %v", total, failures)
}

// TestClusterKafka runs two nodes in one consumer group: whichever node owns
// a message's partition stores it, and clients on both nodes receive it;
// on one Redis and on a Redis Cluster.
func TestClusterKafka(t *testing.T) {
	t.Parallel()
	onTopologies(t, testClusterKafka)
}

func testClusterKafka(t *testing.T, rt *redisTopology) {
	rdb := rt.client
	prefix := clusterPrefix(t, rdb)
	const topic, group = "cluster.notifications", "cluster-group"
	kc, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(6, topic, topic+".dlq"),
		kfake.GroupMinSessionTimeout(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(kc.Close)
	addrs := kc.ListenAddrs()
	nodes := startCluster(t, rt, 2, prefix,
		"--kafka-brokers", strings.Join(addrs, ","), "--kafka-topic", topic, "--kafka-group", group, "--kafka-session-timeout", "1s")

	users := []string{"kx-0", "kx-1", "kx-2", "kx-3", "kx-4", "kx-5"}
	streams := map[string][2]*rawStream{}
	for _, u := range users {
		streams[u] = [2]*rawStream{nodes[0].streamFor(t, u, ""), nodes[1].streamFor(t, u, "")}
	}
	waitSubscribed(t, rdb, prefix, 2, users...)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const perUser = 10
	w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: topic, Balancer: &kafkago.Hash{}, RequiredAcks: kafkago.RequireAll, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()
	// Probes to a user nobody streams, until the group has given the
	// second node partitions too (or 20s went by), so that both nodes
	// consume a share of what follows.
	consumed := func(s *server) float64 {
		return scrapeMetrics(t, s)["herald_kafka_messages_consumed_total"]
	}
	split := false
	for probe := 0; !split && probe < 100; probe++ {
		var ps []kafkago.Message
		for k := range 12 {
			ps = append(ps, kafkago.Message{Key: fmt.Appendf(nil, "probe-%d", k), Value: fmt.Appendf(nil, `{"audience":{"userIds":["kx-probe"]},"title":"probe","idempotencyKey":"probe-%d-%d"}`, probe, k)})
		}
		if err := w.WriteMessages(ctx, ps...); err != nil {
			t.Fatalf("produce probes: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		split = consumed(nodes[0]) > 0 && consumed(nodes[1]) > 0
	}
	if !split {
		t.Log("the group kept every partition on one node; clients on the other still test the bus")
	}
	base := [2]float64{consumed(nodes[0]), consumed(nodes[1])}

	var msgs []kafkago.Message
	for i := range perUser {
		for _, u := range users {
			msgs = append(msgs, kafkago.Message{Key: []byte(u), Value: fmt.Appendf(nil, `{"audience":{"userIds":[%q]},"title":"%s-%02d","idempotencyKey":"%s-%02d"}`, u, u, i, u, i)})
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for _, u := range users {
		for n, st := range streams[u] {
			for i := range perUser {
				_, p, err := st.NextNotification(30 * time.Second)
				if err != nil {
					var b strings.Builder
					for j, s := range nodes {
						for k, v := range scrapeMetrics(t, s) {
							if strings.HasPrefix(k, "herald_bus") || strings.HasPrefix(k, "herald_kafka") || strings.HasPrefix(k, "herald_ingest") {
								fmt.Fprintf(&b, "node %d %s=%v\n", j+1, k, v)
							}
						}
					}
					t.Fatalf("%s on node %d, message %d: %v\n%s\n%s\n%s", u, n+1, i, err, b.String(), nodes[0].Logs(), nodes[1].Logs())
				}
				if want := fmt.Sprintf("%s-%02d", u, i); p.Title != want {
					t.Fatalf("%s on node %d: got %q, want %q", u, n+1, p.Title, want)
				}
			}
		}
	}
	// Whichever node consumed a message, the other node's clients got it
	// over the bus. The group may give every partition to one node.
	for i, s := range nodes {
		t.Logf("node %d consumed %v of the %d messages", i+1, consumed(s)-base[i], len(msgs))
	}
}
