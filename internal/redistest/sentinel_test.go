package redistest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/redistest"
)

// TestSentinel: the Sentinels name the master; once it is killed they
// promote a replica, the failover client follows them, and the other
// replica follows the new master.
func TestSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 2})
	servers := s.Servers()
	if len(servers) != 3 {
		t.Fatalf("Servers() = %v, want a master and 2 replicas", servers)
	}
	if got := s.MasterAddr(t); got != servers[0] {
		t.Fatalf("MasterAddr() = %s, want %s", got, servers[0])
	}
	if got := len(s.SentinelAddrs()); got != 3 {
		t.Errorf("SentinelAddrs() has %d, want 3", got)
	}
	rdb := s.Client(t)
	ctx := t.Context()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	// The replicas have it before the master dies.
	if n, err := rdb.Wait(ctx, 2, 5*time.Second).Result(); err != nil || n != 2 {
		t.Fatalf("WAIT 2 = %d, %v; want 2", n, err)
	}

	began := time.Now()
	s.Kill(t, servers[0])
	promoted := s.AwaitFailover(t, servers[0])
	if !slices.Contains(servers[1:], promoted) {
		t.Fatalf("new master %s, want one of the replicas %v", promoted, servers[1:])
	}
	t.Logf("failover took %v", time.Since(began).Round(time.Millisecond))

	// The client finds the new master; its first calls may still go to
	// the dead one.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var v string
	var err error
	for v, err = rdb.Get(wctx, "k").Result(); err != nil; v, err = rdb.Get(wctx, "k").Result() {
		select {
		case <-wctx.Done():
			t.Fatalf("GET through the failover client: %v", err)
		case <-tick.C:
		}
	}
	if v != "v" {
		t.Errorf("GET k = %q after the failover, want v", v)
	}
	// The other replica follows the new master: a write reaches it,
	// within 50 tries of 200 ms (and the 10 s of wctx).
	for try := 0; ; try++ {
		if try == 50 {
			t.Fatal("no replica of the new master confirmed a write in 50 tries")
		}
		if err := rdb.Set(wctx, "k2", "v", 0).Err(); err != nil {
			t.Fatalf("SET after the failover: %v", err)
		}
		n, err := rdb.Wait(wctx, 1, 200*time.Millisecond).Result()
		if err != nil {
			t.Fatalf("WAIT 1 after the failover: %v", err)
		}
		if n == 1 {
			t.Logf("the other replica follows the new master %v after the kill", time.Since(began).Round(time.Millisecond))
			break
		}
	}
	s.Flush(t)
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after Flush = %d, %v; want 0", n, err)
	}
}
