package redistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/redistest"
)

// TestSentinel: the Sentinels name the master; once it is killed they
// promote the replica, and the failover client follows them.
func TestSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	servers := s.Servers()
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
	// The replica has it before the master dies.
	if n, err := rdb.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want 1", n, err)
	}

	began := time.Now()
	s.Kill(t, servers[0])
	if got := s.AwaitFailover(t, servers[0]); got != servers[1] {
		t.Fatalf("new master %s, want the replica %s", got, servers[1])
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
	s.Flush(t)
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("DBSIZE after Flush = %d, %v; want 0", n, err)
	}
}
