package redistest_test

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/redistest"
)

// TestCluster: the default cluster has three masters that own all the
// slots between them and one replica each, serves keys of every slot, and
// Flush and Kill do what they say. One cluster for the steps, in order.
func TestCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	rdb := c.Client(t)
	ctx := t.Context()

	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("Masters() = %v, want 3", masters)
	}
	replicas := c.Replicas(t)
	var of []string
	for _, m := range replicas {
		of = append(of, m)
	}
	slices.Sort(of)
	if !slices.Equal(of, masters) {
		t.Errorf("Replicas() = %v, want one replica of each of %v", replicas, masters)
	}
	if got := len(c.Addrs()); got != 6 {
		t.Errorf("Addrs() has %d nodes, want 6", got)
	}

	// The client's own view, from CLUSTER SHARDS.
	shards, err := rdb.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SHARDS: %v", err)
	}
	total := 0
	for _, sh := range shards {
		owned := 0
		for _, r := range sh.Slots {
			owned += int(r.End - r.Start + 1)
		}
		roles := map[string]int{}
		for _, n := range sh.Nodes {
			roles[n.Role]++
		}
		if owned == 0 || roles["master"] != 1 || roles["replica"] != 1 {
			t.Errorf("shard with %d slots and nodes %v, want slots, one master and one replica", owned, roles)
		}
		total += owned
	}
	if len(shards) != 3 || total != 16384 {
		t.Errorf("%d shards own %d slots, want 3 owning 16384", len(shards), total)
	}

	// Keys of many slots, through the cluster client.
	for i := range 64 {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k%d: %v", i, err)
		}
	}
	if v, err := rdb.Get(ctx, "k42").Int(); err != nil || v != 42 {
		t.Errorf("GET k42 = %v, %v; want 42", v, err)
	}
	c.Flush(t)
	for i := range 64 {
		if err := rdb.Get(ctx, fmt.Sprintf("k%d", i)).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET k%d after Flush: %v, want nil", i, err)
		}
	}

	// Kill takes a node's process away for good.
	var victim string
	for r := range replicas {
		victim = r
		break
	}
	pid := c.Pid(victim)
	if pid <= 0 {
		t.Fatalf("Pid(%s) = %d", victim, pid)
	}
	c.Kill(t, victim)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to pid %d after Kill: %v, want ESRCH", pid, err)
	}
	if got := c.Pid("127.0.0.1:1"); got != 0 {
		t.Errorf("Pid of an address of no node = %d, want 0", got)
	}
	// The masters still serve.
	if err := rdb.Set(ctx, "after-kill", 1, 0).Err(); err != nil {
		t.Errorf("SET after killing replica %s: %v", victim, err)
	}
}
