package redisstore_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/store"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

// TestWaitReplicas: with WaitReplicas set, a write is acknowledged only
// when that many replicas confirmed it; with the replica stopped, or more
// replicas asked for than exist, the call fails with ErrUnavailable and
// says why, and nothing is acknowledged.
func TestWaitReplicas(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	rdb := s.Client(t)
	deliver := func(st store.Store, id string) error {
		n := &notify.Notification{ID: id, Title: "t", IdempotencyKey: "svc/" + id}
		_, err := st.Append(t.Context(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "u"}}}})
		return err
	}

	one := redisstore.OpenTest(t, redisstore.Options{Client: rdb, WaitReplicas: 1, WaitTimeout: 200 * time.Millisecond})
	if err := deliver(one, "n1"); err != nil {
		t.Fatalf("Append with the replica up: %v", err)
	}
	if _, _, err := one.Mark(t.Context(), "u", store.Mark{Action: store.MarkRead, UpTo: 1}); err != nil {
		t.Fatalf("Mark with the replica up: %v", err)
	}

	two := redisstore.OpenTest(t, redisstore.Options{Client: rdb, WaitReplicas: 2, WaitTimeout: 50 * time.Millisecond})
	if err := deliver(two, "n2"); !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Fatalf("Append waiting for 2 of 1 replicas: error = %v, want ErrUnavailable (ErrNotReplicated)", err)
	}

	// A replica that stopped answering (paused, partitioned away) holds
	// back every acknowledgement.
	replica := s.Servers()[1]
	pid := s.Pid(replica)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	cont := func() {
		if stopped {
			stopped = false
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(cont)
	err := deliver(one, "n3")
	_, _, merr := one.Mark(t.Context(), "u", store.Mark{Action: store.MarkUnread, UpTo: 1})
	cont()
	if !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Errorf("Append with the replica stopped: error = %v, want ErrNotReplicated", err)
	}
	if !errors.Is(merr, redisstore.ErrNotReplicated) {
		t.Errorf("Mark with the replica stopped: error = %v, want ErrNotReplicated", merr)
	}
	// A node reached directly at a replica is not ready, and says why.
	replicaOnly := redis.NewClient(&redis.Options{Addr: replica})
	t.Cleanup(func() { replicaOnly.Close() })
	ro := redisstore.OpenTest(t, redisstore.Options{Client: replicaOnly})
	if err := ro.Ready(t.Context()); !errors.Is(err, notify.ErrUnavailable) || !strings.Contains(err.Error(), "read-only replica") {
		t.Errorf("Ready on a replica: %v, want ErrUnavailable naming the read-only replica", err)
	}
	if err := one.Ready(t.Context()); err != nil {
		t.Errorf("Ready through Sentinel: %v", err)
	}

	// The retry with the same key, once the replica is back, is safe:
	// one entry, acknowledged.
	if err := deliver(one, "n3"); err != nil {
		t.Fatalf("retry after the replica came back: %v", err)
	}
	es, err := one.Read(t.Context(), "u", 0, 10)
	if err != nil || len(es) != 2 {
		t.Fatalf("Read = %d entries, %v; want n1 and n3 once each", len(es), err)
	}
}

// TestWaitReplicasCluster: in a cluster, WAIT goes to the master of each
// write's keys, on the connection that sent them.
func TestWaitReplicasCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	st := redisstore.OpenTest(t, redisstore.Options{Client: c.Client(t), WaitReplicas: 1})
	var ds []store.Delivery
	for i, u := range []notify.UserID{"alice", "bob", "carol", "dave", "erin", "frank"} {
		n := &notify.Notification{ID: "n" + string(u), Title: "t", IdempotencyKey: "svc/" + string(rune('a'+i))}
		ds = append(ds, store.Delivery{Notification: n, Recipients: []store.Recipient{{User: u}}})
	}
	res, err := st.Append(t.Context(), ds)
	if err != nil {
		t.Fatalf("Append to users on every master: %v", err)
	}
	for i, r := range res {
		if r.Recipients != 1 {
			t.Errorf("result %d: %+v, want one recipient", i, r)
		}
	}
	if err := st.Ready(t.Context()); err != nil {
		t.Errorf("Ready on the cluster: %v", err)
	}
	// A node given one cluster node as a single Redis is not ready.
	single := redis.NewClient(&redis.Options{Addr: c.Addrs()[0]})
	t.Cleanup(func() { single.Close() })
	if err := redisstore.OpenTest(t, redisstore.Options{Client: single}).Ready(t.Context()); err == nil || !strings.Contains(err.Error(), "--redis-mode=cluster") {
		t.Errorf("Ready on a cluster node without cluster mode: %v, want an error naming --redis-mode=cluster", err)
	}
	three := redisstore.OpenTest(t, redisstore.Options{Client: c.Client(t), WaitReplicas: 3, WaitTimeout: 50 * time.Millisecond})
	if _, err := three.Append(t.Context(), ds[:1]); !errors.Is(err, redisstore.ErrNotReplicated) {
		t.Errorf("Append waiting for 3 replicas of a master with 1: error = %v, want ErrNotReplicated", err)
	}
}

// TestFailureStaysWithItsMaster: in a cluster, a master whose writes fail
// (here its replica stopped, so WAIT falls short) fails only the calls
// that wrote to it; calls grouped with them for users on other masters
// succeed.
func TestFailureStaysWithItsMaster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	cc := c.Client(t)
	st := redisstore.OpenTest(t, redisstore.Options{Client: cc, WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond})
	masters := c.Masters(t)
	victim := masters[0]
	var on, off []notify.UserID
	for i := 0; i < 1000 && (len(on) < 3 || len(off) < 3); i++ {
		u := notify.UserID(fmt.Sprint("user-", i))
		node, err := cc.MasterForKey(t.Context(), "{u:"+base64.RawURLEncoding.EncodeToString([]byte(u))+"}")
		if err != nil {
			t.Fatal(err)
		}
		if node.Options().Addr == victim {
			on = append(on, u)
		} else {
			off = append(off, u)
		}
	}
	var replica string
	for r, m := range c.Replicas(t) {
		if m == victim {
			replica = r
		}
	}
	pid := c.Pid(replica)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })

	// Without keys, so that each call writes its user's master only.
	deliver := func(u notify.UserID, id string) error {
		n := &notify.Notification{ID: id, Title: "t"}
		_, err := st.Append(t.Context(), []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: u}}}})
		return err
	}
	// The first call holds the writer for the WAIT timeout, so the others
	// queue and are written as one group.
	errs := make(map[notify.UserID]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, u := range append(on, off...) {
		wg.Go(func() {
			err := deliver(u, fmt.Sprint("n", i))
			mu.Lock()
			errs[u] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, u := range on {
		if !errors.Is(errs[u], redisstore.ErrNotReplicated) {
			t.Errorf("%s on the master without its replica: %v, want ErrNotReplicated", u, errs[u])
		}
	}
	for _, u := range off {
		if errs[u] != nil {
			t.Errorf("%s on a healthy master: %v, want success", u, errs[u])
		}
	}
}
