package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redistest"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

// With --redis-wait-replicas=0 a master acknowledges a write before its
// replica has it. Killed before the replica caught up, it takes those
// writes with it: after the promotion each of its users' counters is back
// where the replica had it, and the next notifications reuse cursors that
// streams already sent with the lost ones. A stream that is sent such a
// cursor answers with a reset (internal/resume, sentRing), so that the
// client refetches its inbox, instead of dropping the new entry as a
// duplicate and skipping it silently.
//
// What a stream can notice bounds the test: it remembers its last 16
// cursors, so the loss per user stays below that. The notifications after
// the promotion are sent at once, before the nodes streaming the victims
// have subscribed again on the new master: those entries reach the
// streams through the bus's recovery, which hands over the user's 16
// newest entries, among them the reused cursors.

// Notifications per user in each phase: before replication is cut, between
// the cut and the kill (lost to the master's users), and after the
// promotion (reusing the lost cursors first).
const (
	lostWritesBefore = 20
	lostWritesCut    = 5
	lostWritesAfter  = 8
)

// TestClusterLostWritesReset cuts the replication of one master of a Redis
// Cluster, sends a few notifications to each of its two users, kills it and
// sends more after the replica is promoted and the nodes subscribed to the
// users' channels again. The stream of each of these
// users, on a node other than their caller's, gets one reset after the
// kill and then every stored entry above the reset's cursor once, in order;
// before the reset it got exactly what was acknowledged before the kill;
// and between two resets a cursor never names two notifications. The stream
// of a user of another master gets every acknowledged notification once and
// no reset.
func TestClusterLostWritesReset(t *testing.T) {
	t.Parallel()
	rt := clusterTopology(t, redistest.ClusterOptions{})
	prefix := clusterPrefix(t, rt.client)
	nodes := startCluster(t, rt, 3, prefix, "--redis-wait-replicas=0", "--retention-count=1000000")
	cc := rt.client.(*redis.ClusterClient)
	masters := rt.cluster.Masters(t)
	victim := masters[0]
	var replica string
	for r, m := range rt.cluster.Replicas(t) {
		if m == victim {
			replica = r
		}
	}
	if replica == "" {
		t.Fatalf("no replica of %s", victim)
	}
	victims := usersOn(t, cc, victim, "lw", 2)
	control := usersOn(t, cc, masters[1], "lw", 1)[0]
	users := append(slices.Clone(victims), control)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// User i's caller is on node i, its stream on node i+1.
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer readers.Wait()
	defer stopReading()
	streams := make([]*resetClient, len(users))
	callers := make([]heraldv1.NotifyServiceClient, len(users))
	for i, u := range users {
		callers[i] = nodes[i%len(nodes)].notifyClient(t)
		n := nodes[(i+1)%len(nodes)]
		streams[i] = &resetClient{user: u}
		first := n.streamFor(t, u, "")
		readers.Go(func() { streams[i].run(readCtx, first, n.HTTPAddr) })
	}
	waitSubscribed(t, rt.client, prefix, 1, users...)

	load := newFailoverLoad(users...)
	next := make([]int, len(users)) // each user's next sequence number
	// send sends n notifications to each user, one after another, each
	// until it is acknowledged.
	send := func(n int) {
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				for range n {
					title := fmt.Sprintf("%s|%05d", u, next[i])
					next[i]++
					if !load.deliver(ctx, callers[i], u, title) {
						return
					}
				}
			})
		}
		wg.Wait()
		load.mu.Lock()
		defer load.mu.Unlock()
		if len(load.given) > 0 {
			t.Fatalf("never acknowledged: %q", load.given)
		}
	}
	// received waits until each stream got the n notifications sent so
	// far, which no failover has touched yet.
	received := func(n int) {
		waitFor(t, 10*time.Second, func() bool {
			for _, s := range streams {
				if s.notifications() < n {
					return false
				}
			}
			return true
		}, func() string { return fmt.Sprintf("streams have %s notifications, want %d each", counts(streams), n) })
	}

	send(lostWritesBefore)
	received(lostWritesBefore)

	// Cut: once the replica has every write so far, it reconnects with a
	// wrong password, which its master refuses.
	mc := redis.NewClient(&redis.Options{Addr: victim})
	defer mc.Close()
	rc := redis.NewClient(&redis.Options{Addr: replica})
	defer rc.Close()
	var mi, ri map[string]string
	waitFor(t, 10*time.Second, func() bool {
		mi, ri = replicationInfo(ctx, mc), replicationInfo(ctx, rc)
		return mi["master_repl_offset"] != "" && mi["master_repl_offset"] == ri["slave_repl_offset"]
	}, func() string {
		return fmt.Sprintf("master offset %q, replica's %q", mi["master_repl_offset"], ri["slave_repl_offset"])
	})
	if err := rc.ConfigSet(ctx, "masterauth", "wrong").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ClientKillByFilter(ctx, "TYPE", "master").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		mi = replicationInfo(ctx, mc)
		return mi["connected_slaves"] == "0"
	}, func() string { return fmt.Sprintf("the replica is still connected: %v", mi) })

	send(lostWritesCut)
	received(lostWritesBefore + lostWritesCut)

	killed := time.Now()
	rt.cluster.Kill(t, victim)
	var now []string
	waitFor(t, 15*time.Second, func() bool {
		now = rt.cluster.Masters(t)
		return slices.Contains(now, replica) && !slices.Contains(now, victim)
	}, func() string {
		return fmt.Sprintf("masters %v after %s was killed, want %s among them", now, victim, replica)
	})
	promoted := time.Since(killed)
	send(lostWritesAfter)
	acked := time.Since(killed)
	waitSubscribed(t, rt.client, prefix, 1, victims...)
	resubscribed := time.Since(killed)

	st := storeAfterFailover(ctx, t, rt, prefix)

	// Each victim's stream is done once it sent a reset and reached the
	// inbox's newest cursor after it; the control's, once it has every
	// notification. Whatever is missing after the bound is reported below.
	complete := func() bool {
		for _, s := range streams {
			in, err := readInbox(ctx, st, s.user)
			if err != nil {
				return false
			}
			log := s.events()
			if s.user == control {
				if countNotifications(log) < len(in) {
					return false
				}
				continue
			}
			r := lastReset(log)
			if r < 0 || len(in) == 0 || log[len(log)-1].cursor < in[len(in)-1].cursor {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	done := complete()
	for !done && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
		done = complete()
	}
	if !done {
		t.Errorf("the streams did not complete within 10s of the last acknowledgement (details below)")
	}
	stopReading()
	readers.Wait()

	load.mu.Lock()
	defer load.mu.Unlock()
	t.Logf("replication cut with %d acknowledged per user; master killed after %d more; %s promoted %v after the kill; the victims' channels subscribed again %v after it; %d more per user acknowledged %v after it; failed calls by code %v",
		lostWritesBefore, lostWritesCut, replica, promoted.Round(time.Millisecond), resubscribed.Round(time.Millisecond), lostWritesAfter, acked.Round(time.Millisecond), load.failed)
	for _, s := range streams {
		inbox, err := readInbox(ctx, st, s.user)
		if err != nil {
			t.Fatalf("read %s: %v", s.user, err)
		}
		ackedTitles := load.titles(s.user)
		if s.user == control {
			checkControlStream(t, s, inbox, ackedTitles)
			continue
		}
		checkVictimStream(t, s, inbox, ackedTitles, killed)
	}
}

// checkVictimStream checks the stream of a user whose acknowledged
// notifications the failover lost (ackedTitles in acknowledgement order,
// those before the kill first).
func checkVictimStream(t *testing.T, s *resetClient, inbox []storedEntry, ackedTitles []string, killed time.Time) {
	t.Helper()
	log := s.events()
	s.mu.Lock()
	reconnects, err := s.reconnects, s.err
	s.mu.Unlock()
	if err != nil {
		t.Errorf("%s's stream: %v", s.user, err)
	}
	stored := make(map[string]bool, len(inbox))
	for _, e := range inbox {
		stored[e.title] = true
	}
	var lost []string
	for _, a := range ackedTitles {
		if !stored[a] {
			lost = append(lost, a)
		}
	}
	var resets []uint64
	for _, e := range log {
		if e.reset {
			resets = append(resets, e.cursor)
		}
	}
	t.Logf("%s (killed master): %d acknowledged, %d of them lost; inbox %d entries; stream: %d notifications, resets at cursors %v, %d reconnects",
		s.user, len(ackedTitles), len(lost), len(inbox), countNotifications(log), resets, reconnects)
	// The premise: the failover lost what was acknowledged between the cut
	// and the kill, fewer than a stream remembers.
	if want := ackedTitles[lostWritesBefore : lostWritesBefore+lostWritesCut]; !slices.Equal(lost, want) {
		t.Errorf("%s: lost %q, want those acknowledged between the cut and the kill, %q", s.user, lost, want)
	}
	checkEpochs(t, s.user, log)

	first := slices.IndexFunc(log, func(e streamEvent) bool { return e.reset })
	if first < 0 {
		var skipped []string
		got := make(map[string]bool, len(log))
		for _, e := range log {
			got[e.title] = true
		}
		for _, e := range inbox {
			if !got[e.title] {
				skipped = append(skipped, fmt.Sprintf("%s@%d", e.title, e.cursor))
			}
		}
		t.Errorf("%s's stream: no reset; stored entries never received: %v; last events %s", s.user, skipped, describe(log[max(0, len(log)-12):]))
		return
	}
	if len(resets) != 1 {
		t.Errorf("%s's stream: resets to %v, want one for the one failover", s.user, resets)
	}
	if log[first].at.Before(killed) {
		t.Errorf("%s's stream: reset to %d before the kill", s.user, log[first].cursor)
	}
	// Before the failover, the stream had what was acknowledged.
	before := lostWritesBefore + lostWritesCut
	if got := titlesOf(log[:first]); !slices.Equal(got, ackedTitles[:before]) {
		t.Errorf("%s's stream before the reset: %s", s.user, diffTitles(got, ackedTitles[:before]))
	}
	// After the last reset: every stored entry above its cursor, in order,
	// once.
	r := lastReset(log)
	var want []storedEntry
	for _, e := range inbox {
		if e.cursor > log[r].cursor {
			want = append(want, e)
		}
	}
	var got []storedEntry
	for _, e := range log[r+1:] {
		got = append(got, storedEntry{cursor: e.cursor, title: e.title})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s's stream after the reset to %d: got %v, want the stored entries above it %v", s.user, log[r].cursor, got, want)
	}
}

// checkControlStream checks the stream of a user of a master that
// survived: every acknowledged notification once, in order, and no reset.
func checkControlStream(t *testing.T, s *resetClient, inbox []storedEntry, ackedTitles []string) {
	t.Helper()
	log := s.events()
	s.mu.Lock()
	reconnects, err := s.reconnects, s.err
	s.mu.Unlock()
	if err != nil {
		t.Errorf("%s's stream: %v", s.user, err)
	}
	t.Logf("%s (control): %d acknowledged, inbox %d entries; stream: %d notifications, %d resets, %d reconnects",
		s.user, len(ackedTitles), len(inbox), countNotifications(log), len(log)-countNotifications(log), reconnects)
	if stored := titlesOf(toEvents(inbox)); !slices.Equal(stored, ackedTitles) {
		t.Errorf("inbox of %s: %s", s.user, diffTitles(stored, ackedTitles))
	}
	for _, e := range log {
		if e.reset {
			t.Errorf("%s's stream: reset to %d, want none", s.user, e.cursor)
		}
	}
	if got := titlesOf(log); !slices.Equal(got, ackedTitles) {
		t.Errorf("%s's stream: %s", s.user, diffTitles(got, ackedTitles))
	}
	checkEpochs(t, s.user, log)
}

// checkEpochs checks that between two resets the cursors rise, each above
// the last reset's: a cursor never names two notifications, and no
// notification comes twice, without a reset in between.
func checkEpochs(t *testing.T, user string, log []streamEvent) {
	t.Helper()
	var floor uint64
	seen := map[uint64]string{}
	for i, e := range log {
		if e.reset {
			floor = e.cursor
			clear(seen)
			continue
		}
		if title, ok := seen[e.cursor]; ok {
			t.Errorf("%s's stream: cursor %d sent as %q and then as %q with no reset in between (events %d-%d: %s)",
				user, e.cursor, title, e.title, max(0, i-8), i, describe(log[max(0, i-8):i+1]))
			return
		}
		if e.cursor <= floor {
			t.Errorf("%s's stream: cursor %d after %d (events %d-%d: %s)", user, e.cursor, floor, max(0, i-8), i, describe(log[max(0, i-8):i+1]))
			return
		}
		seen[e.cursor] = e.title
		floor = e.cursor
	}
}

// resetClient is an SSE client that keeps resets: it records notifications
// and resets in the order they came and, after a reset, goes on from the
// reset's cursor, as a client that refetched its inbox does. It reconnects
// to its node, from the last ID it saw, whenever the stream breaks.
type resetClient struct {
	user string

	mu         sync.Mutex
	log        []streamEvent
	reconnects int
	err        error // the first malformed event
}

// streamEvent is a notification or a reset that a stream sent.
type streamEvent struct {
	reset  bool
	cursor uint64 // the notification's, or the one the reset moves to
	title  string
	at     time.Time
}

func (c *resetClient) events() []streamEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *resetClient) notifications() int { return countNotifications(c.events()) }

// run reads until ctx ends, starting with first.
func (c *resetClient) run(ctx context.Context, first *rawStream, addr string) {
	st, last := first, ""
	for ctx.Err() == nil {
		if st == nil {
			s, err := dialStream(ctx, addr, c.user, last)
			if err != nil {
				select { // a pause between attempts
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			st = s
			c.mu.Lock()
			c.reconnects++
			c.mu.Unlock()
		}
		id, err := c.read(ctx, st)
		st.Close()
		st = nil
		if err != nil && ctx.Err() == nil {
			c.mu.Lock()
			if c.err == nil {
				c.err = err
			}
			c.mu.Unlock()
		}
		if id != "" {
			last = id
		}
	}
}

// read records st's events until it breaks or ctx ends, and returns the
// last event ID it saw, with the first malformed event's error. The stream
// is closed when ctx ends: the read does not time out on a quiet stream.
func (c *resetClient) read(ctx context.Context, st *rawStream) (last string, err error) {
	conn := st.conn
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()
	for {
		ev, rerr := st.Next(time.Minute)
		if rerr != nil {
			return last, err
		}
		var e streamEvent
		switch ev.Event {
		case notify.EventReset:
			var d struct{ Reason, Cursor string }
			if jerr := json.Unmarshal([]byte(ev.Data), &d); jerr != nil || d.Cursor != ev.ID {
				return last, fmt.Errorf("reset %q with ID %q", ev.Data, ev.ID)
			}
			e.reset = true
		case notify.EventShutdown, notify.EventTokenExpired, notify.EventRead:
			continue
		default:
			var p payload
			if jerr := json.Unmarshal([]byte(ev.Data), &p); jerr != nil {
				return last, fmt.Errorf("event data %q: %w", ev.Data, jerr)
			}
			e.title = p.Title
		}
		cur, perr := strconv.ParseUint(ev.ID, 10, 64)
		if perr != nil {
			return last, fmt.Errorf("event ID %q: %w", ev.ID, perr)
		}
		e.cursor, e.at = cur, time.Now()
		last = ev.ID
		c.mu.Lock()
		c.log = append(c.log, e)
		c.mu.Unlock()
	}
}

// storedEntry is an inbox entry as the test compares it.
type storedEntry struct {
	cursor uint64
	title  string
}

// readInbox reads user's whole inbox.
func readInbox(ctx context.Context, st *redisstore.Store, user string) ([]storedEntry, error) {
	var out []storedEntry
	var after notify.Cursor
	for range 1000 {
		es, err := st.Read(ctx, notify.UserID(user), after, 500)
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			return out, nil
		}
		for _, e := range es {
			out = append(out, storedEntry{cursor: uint64(e.Cursor), title: e.Notification.Title})
		}
		after = es[len(es)-1].Cursor
	}
	return nil, fmt.Errorf("inbox of %s: more than 1000 pages", user)
}

// replicationInfo is INFO replication of c as fields, empty if it fails.
func replicationInfo(ctx context.Context, c *redis.Client) map[string]string {
	out := map[string]string{}
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

func lastReset(log []streamEvent) int {
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].reset {
			return i
		}
	}
	return -1
}

func countNotifications(log []streamEvent) int {
	n := 0
	for _, e := range log {
		if !e.reset {
			n++
		}
	}
	return n
}

func titlesOf(log []streamEvent) []string {
	var out []string
	for _, e := range log {
		if !e.reset {
			out = append(out, e.title)
		}
	}
	return out
}

func toEvents(inbox []storedEntry) []streamEvent {
	out := make([]streamEvent, len(inbox))
	for i, e := range inbox {
		out[i] = streamEvent{cursor: e.cursor, title: e.title}
	}
	return out
}

func counts(streams []*resetClient) string {
	var b strings.Builder
	for _, s := range streams {
		fmt.Fprintf(&b, "%s: %d; ", s.user, s.notifications())
	}
	return b.String()
}

// describe lists events as title@cursor, and resets as reset→cursor.
func describe(log []streamEvent) string {
	parts := make([]string, len(log))
	for i, e := range log {
		if e.reset {
			parts[i] = fmt.Sprintf("reset→%d", e.cursor)
		} else {
			parts[i] = fmt.Sprintf("%s@%d", e.title, e.cursor)
		}
	}
	return strings.Join(parts, " ")
}
