package main_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redistest"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

// These tests kill Redis's master with SIGKILL under Notify load, with
// --redis-wait-replicas=1, and let the cluster or the Sentinels promote a
// replica: the calls meanwhile fail with UNAVAILABLE and nothing else, the
// nodes recover by themselves (calls acknowledged again, /readyz 200), and
// every acknowledged notification is in its user's inbox exactly once, in
// acknowledgement order, and reached the user's stream on another node
// exactly once, in that order.
//
// Each master has two replicas: after the promotion the other one follows
// the new master, whose writes WAIT can then confirm. With one, the new
// master has no replica, and every write to it fails until one joins
// (README, "Durability in cluster mode").

// failoverLoad sends each user's notifications from a caller of its own,
// one after another, each retried under its idempotency key until it is
// acknowledged, so that a user's acknowledgements have one order, which the
// inbox must keep. A title is "user|seq", and the key is the title.
type failoverLoad struct {
	users []string

	mu      sync.Mutex
	acks    map[string][]ack // by user, in acknowledgement order
	total   int
	failed  map[codes.Code]int
	failedU map[string]int // user → failed calls
	lastErr time.Time      // when the last failed call returned
	errs    []string       // the first few failures other than UNAVAILABLE
	given   []string       // titles given up on: never acknowledged
}

// ack is one acknowledged notification.
type ack struct {
	title, id string
	first     time.Time // its first attempt began
	sent      time.Time // the attempt that was acknowledged began
	at        time.Time // acknowledged
}

func newFailoverLoad(users ...string) *failoverLoad {
	return &failoverLoad{
		users:   users,
		acks:    map[string][]ack{},
		failed:  map[codes.Code]int{},
		failedU: map[string]int{},
	}
}

// Bounds of one notification: each call, and the calls of one key (with a
// pause between them, 20 s in all).
const (
	failoverCallTimeout = 15 * time.Second
	failoverAttempts    = 1000
	failoverPause       = 20 * time.Millisecond
)

// run starts a caller of users[i] on clientFor(i), until stop closes: a
// caller then finishes the notification it is on. The callers also stop
// when ctx ends or after 100,000 notifications each.
func (l *failoverLoad) run(ctx context.Context, stop <-chan struct{}, clientFor func(i int) heraldv1.NotifyServiceClient) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, u := range l.users {
		nc := clientFor(i)
		wg.Go(func() {
			for seq := range 100000 {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				if !l.deliver(ctx, nc, u, fmt.Sprintf("%s|%05d", u, seq)) {
					return
				}
			}
		})
	}
	return &wg
}

// deliver sends title to user until it is acknowledged, and reports
// whether it was.
func (l *failoverLoad) deliver(ctx context.Context, nc heraldv1.NotifyServiceClient, user, title string) bool {
	first := time.Now()
	for range failoverAttempts {
		sent := time.Now()
		callCtx, cancel := context.WithTimeout(ctx, failoverCallTimeout)
		r, err := nc.Notify(withKey(callCtx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience:       &heraldv1.Audience{UserIds: []string{user}},
			Title:          title,
			IdempotencyKey: title,
		}})
		cancel()
		now := time.Now()
		l.mu.Lock()
		if err == nil {
			l.acks[user] = append(l.acks[user], ack{title: title, id: r.GetId(), first: first, sent: sent, at: now})
			l.total++
			l.mu.Unlock()
			return true
		}
		code := status.Code(err)
		l.failed[code]++
		l.failedU[user]++
		l.lastErr = now
		if code != codes.Unavailable && len(l.errs) < 5 {
			l.errs = append(l.errs, fmt.Sprintf("%s: %v", title, err))
		}
		l.mu.Unlock()
		select { // do not spin while Redis is away
		case <-ctx.Done():
			l.giveUp(title)
			return false
		case <-time.After(failoverPause):
		}
	}
	l.giveUp(title)
	return false
}

func (l *failoverLoad) giveUp(title string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.given = append(l.given, title)
}

func (l *failoverLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// since counts each user's acknowledgements after t.
func (l *failoverLoad) since(t time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.users))
	for _, u := range l.users {
		out[u] = 0
		for _, a := range l.acks[u] {
			if a.at.After(t) {
				out[u]++
			}
		}
	}
	return out
}

// titles returns user's acknowledged titles in acknowledgement order. The
// caller holds l.mu.
func (l *failoverLoad) titles(user string) []string {
	out := make([]string, len(l.acks[user]))
	for i, a := range l.acks[user] {
		out[i] = a.title
	}
	return out
}

// recovery describes, from the caller's side, how the load went through
// a kill at killed. The caller holds l.mu.
func (l *failoverLoad) recovery(killed time.Time, victims []string) string {
	var first, firstSent time.Time // the first acknowledgements after the kill: any, and of a call sent after it
	var longest time.Duration      // from a notification's first attempt to its acknowledgement
	before := 0
	for _, as := range l.acks {
		for _, a := range as {
			if !a.at.After(killed) {
				before++
				continue
			}
			if first.IsZero() || a.at.Before(first) {
				first = a.at
			}
			if a.sent.After(killed) && (firstSent.IsZero() || a.at.Before(firstSent)) {
				firstSent = a.at
			}
			longest = max(longest, a.at.Sub(a.first))
		}
	}
	var victimFailed, otherFailed int
	for u, n := range l.failedU {
		if slices.Contains(victims, u) {
			victimFailed += n
		} else {
			otherFailed += n
		}
	}
	last := "none"
	if !l.lastErr.IsZero() {
		last = sinceKill(l.lastErr, killed)
	}
	return fmt.Sprintf("acknowledged %d before the kill, %d after; first acknowledgement %s after the kill, first of a call sent after it %s; longest from a notification's first attempt to its acknowledgement %v; failed calls by code %v (%d of the killed master's users, %d of the others'), the last %s after the kill",
		before, l.total-before, sinceKill(first, killed), sinceKill(firstSent, killed), longest.Round(time.Millisecond),
		l.failed, victimFailed, otherFailed, last)
}

// failover is what a test kills and how it waits for the promotion.
type failover struct {
	victims []string      // users whose master is killed
	kill    func()        // kills the master with SIGKILL
	await   func() string // waits for a promotion; returns the new master
}

// runFailover puts the load of users on nodes (user i's caller on node
// i % len(nodes)), streams watched users on the next node over, kills the
// master once 300 notifications are acknowledged, and checks the outcome.
func runFailover(t *testing.T, rt *redisTopology, prefix string, nodes []*server, users, watched []string, f failover) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	nodeOf := func(u string) int { return slices.Index(users, u) % len(nodes) }

	// Streams of the watched users on a node other than their caller's.
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer readers.Wait()
	defer stopReading()
	watchers := make([]*clusterClient, len(watched))
	for i, u := range watched {
		n := nodes[(nodeOf(u)+1)%len(nodes)]
		watchers[i] = &clusterClient{user: u}
		first := n.streamFor(t, u, "")
		readers.Go(func() { watchers[i].run(readCtx, first, func() []string { return []string{n.HTTPAddr} }) })
	}
	waitSubscribed(t, rt.client, prefix, 1, watched...)

	load := newFailoverLoad(users...)
	clients := make([]heraldv1.NotifyServiceClient, len(nodes))
	for i, n := range nodes {
		clients[i] = n.notifyClient(t)
	}
	stop := make(chan struct{})
	callers := load.run(ctx, stop, func(i int) heraldv1.NotifyServiceClient { return clients[i%len(clients)] })
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			callers.Wait()
		}
	}
	defer stopLoad()

	waitFor(t, 30*time.Second, func() bool { return load.count() >= 300 }, func() string {
		return fmt.Sprintf("only %d acknowledged before the kill", load.count())
	})
	before := load.count()
	killed := time.Now()
	f.kill()
	promoted := f.await()
	t.Logf("master killed after %d acknowledged; %s promoted %v after the kill", before, promoted, time.Since(killed).Round(time.Millisecond))

	// Every user's calls go through again, those of the killed master's
	// users included.
	const more = 20
	waitFor(t, 30*time.Second, func() bool {
		for _, n := range load.since(killed) {
			if n < more {
				return false
			}
		}
		return load.count() >= before+300
	}, func() string {
		load.mu.Lock()
		failed := fmt.Sprint(load.failed)
		load.mu.Unlock()
		return fmt.Sprintf("acknowledged by user since the kill %v, want %d each and 300 in all; failed calls %v: the nodes did not recover\nnode 1:\n%s",
			load.since(killed), more, failed, tailLines(nodes[0].Logs(), 30))
	})
	recovered := time.Since(killed)
	for i, n := range nodes {
		probes := 0
		waitFor(t, 10*time.Second, func() bool {
			probes++
			return httpStatus(t, n.URL("/readyz")) == http.StatusOK
		}, func() string { return fmt.Sprintf("node %d: readyz did not return to 200", i+1) })
		if probes > 1 {
			t.Logf("node %d: readyz 200 at probe %d", i+1, probes)
		}
	}
	stopLoad()

	load.mu.Lock()
	defer load.mu.Unlock()
	for code, n := range load.failed {
		if code != codes.Unavailable {
			t.Errorf("%d Notify calls failed with %v, want only UNAVAILABLE; first ones: %q", n, code, load.errs)
		}
	}
	if len(load.given) > 0 {
		t.Errorf("never acknowledged within %d attempts: %q", failoverAttempts, load.given)
	}
	t.Log(load.recovery(killed, f.victims))
	t.Logf("every user had %d more acknowledged %v after the kill", more, recovered.Round(time.Millisecond))

	checkInboxes(ctx, t, rt, prefix, load)

	// The streams got each of their user's acknowledged notifications
	// once, in order.
	waitFor(t, 20*time.Second, func() bool {
		for _, w := range watchers {
			if got, _, _ := w.snapshot(); len(got) < len(load.titles(w.user)) {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for _, w := range watchers {
			got, n, _ := w.snapshot()
			fmt.Fprintf(&b, "%s: %d of %d after %d reconnects; ", w.user, len(got), len(load.titles(w.user)), n)
		}
		return b.String()
	})
	stopReading()
	readers.Wait()
	for _, w := range watchers {
		acked := load.titles(w.user)
		checkExactlyOnce(t, w, acked)
		got, reconnects, _ := w.snapshot()
		if !slices.Equal(got, acked) {
			t.Errorf("%s's stream: %d events, not the %d acknowledged in their order", w.user, len(got), len(load.titles(w.user)))
		}
		t.Logf("%s's stream on another node: %d events, %d reconnects", w.user, len(got), reconnects)
	}
}

func sinceKill(t, killed time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Sub(killed).Round(time.Millisecond).String()
}

// checkInboxes reads every user's inbox through a Redis store on rt's
// client: it holds the acknowledged notifications, each once, under the ID
// acknowledged, in acknowledgement order, and nothing else. The caller
// holds load.mu.
// storeAfterFailover waits until the test's client follows the promotion
// (it answers once it does) and opens the store under prefix on it, with
// nothing trimmed; it is closed when t ends.
func storeAfterFailover(ctx context.Context, t *testing.T, rt *redisTopology, prefix string) *redisstore.Store {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return eachMaster(pctx, rt.client, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() }) == nil
	}, func() string { return "the test's Redis client did not follow the failover" })
	st, err := redisstore.Open(ctx, redisstore.Options{Client: rt.client, Prefix: prefix, RetentionCount: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func checkInboxes(ctx context.Context, t *testing.T, rt *redisTopology, prefix string, load *failoverLoad) {
	t.Helper()
	st := storeAfterFailover(ctx, t, rt, prefix)
	for _, u := range load.users {
		ids := make(map[string]string, len(load.acks[u]))
		for _, a := range load.acks[u] {
			ids[a.title] = a.id
		}
		var titles []string
		var after notify.Cursor
		for range 1000 {
			es, err := st.Read(ctx, notify.UserID(u), after, 500)
			if err != nil {
				t.Fatalf("read %s: %v", u, err)
			}
			if len(es) == 0 {
				break
			}
			for _, e := range es {
				n := e.Notification
				titles = append(titles, n.Title)
				if id, ok := ids[n.Title]; ok && id != n.ID {
					t.Errorf("%s: %s stored as %s, acknowledged as %s", u, n.Title, n.ID, id)
				}
			}
			after = es[len(es)-1].Cursor
		}
		if want := load.titles(u); !slices.Equal(titles, want) {
			t.Errorf("inbox of %s: %s", u, diffTitles(titles, want))
		}
	}
}

// diffTitles describes how an inbox's titles differ from those
// acknowledged: missing, repeated, unexpected or out of order.
func diffTitles(got, want []string) string {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	var missing, twice, extra []string
	for _, w := range want {
		switch count[w] {
		case 0:
			missing = append(missing, w)
		case 1:
		default:
			twice = append(twice, w)
		}
		delete(count, w)
	}
	for g := range count {
		extra = append(extra, g)
	}
	slices.Sort(extra)
	if len(missing)+len(twice)+len(extra) == 0 {
		return fmt.Sprintf("the %d acknowledged, out of acknowledgement order", len(want))
	}
	return fmt.Sprintf("%d entries for %d acknowledged; missing %q, more than once %q, never acknowledged %q", len(got), len(want), missing, twice, extra)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestClusterFailoverUnderLoad kills one master of a Redis Cluster under
// load on three nodes: two users of each master, each user's caller on one
// node and streams of two users (one of the killed master) on another. The
// users of the other masters see failures too: a call also writes its
// idempotency key, whose slot may be the killed master's, and a node fails
// the calls it writes together.
func TestClusterFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	rt := clusterTopology(t, redistest.ClusterOptions{Replicas: 2})
	prefix := clusterPrefix(t, rt.client)
	nodes := startCluster(t, rt, 3, prefix, "--redis-wait-replicas=1", "--retention-count=1000000")
	cc := rt.client.(*redis.ClusterClient)
	masters := rt.cluster.Masters(t)
	var users []string
	for _, m := range masters {
		users = append(users, usersOn(t, cc, m, "fc", 2)...)
	}
	victim := masters[0]
	runFailover(t, rt, prefix, nodes, users, []string{users[0], users[len(users)-1]}, failover{
		victims: users[:2],
		kill:    func() { rt.cluster.Kill(t, victim) },
		await: func() string {
			var now []string
			waitFor(t, 30*time.Second, func() bool {
				now = rt.cluster.Masters(t)
				return len(now) == len(masters) && !slices.Contains(now, victim)
			}, func() string { return fmt.Sprintf("masters %v after %s was killed", now, victim) })
			for _, m := range now {
				if !slices.Contains(masters, m) {
					return m
				}
			}
			return ""
		},
	})
}

// TestSentinelFailoverUnderLoad kills the master that Sentinel watches
// under load on two nodes, six users, each user's caller on one node and
// streams of two users on the other.
func TestSentinelFailoverUnderLoad(t *testing.T) {
	t.Parallel()
	rt := sentinelTopology(t, redistest.SentinelOptions{Replicas: 2})
	prefix := clusterPrefix(t, rt.client)
	nodes := startCluster(t, rt, 2, prefix, "--redis-wait-replicas=1", "--retention-count=1000000")
	users := []string{"fs-0", "fs-1", "fs-2", "fs-3", "fs-4", "fs-5"}
	master := rt.sentinel.MasterAddr(t)
	runFailover(t, rt, prefix, nodes, users, []string{users[0], users[1]}, failover{
		victims: users,
		kill:    func() { rt.sentinel.Kill(t, master) },
		await:   func() string { return rt.sentinel.AwaitFailover(t, master) },
	})
}
