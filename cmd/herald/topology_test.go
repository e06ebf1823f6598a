package main_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/testenv"
)

// clusterRedisAddr is the shared Redis of the tests on one Redis.
var clusterRedisAddr = testenv.RedisAddr()

// redisTopology is a Redis deployment that the herald nodes of a cluster
// test share: the flags that point a node at it, and a client of it for the
// test's own checks.
type redisTopology struct {
	name string
	// args locate Redis: --redis-url, or --redis-mode with the seeds or
	// the sentinels.
	args []string
	// client is a *redis.Client (single, sentinel) or a
	// *redis.ClusterClient (cluster).
	client redis.UniversalClient
	// cluster and sentinel are the processes of a deployment the test
	// started, in the mode that has them.
	cluster  *redistest.Cluster
	sentinel *redistest.Sentinel
}

// singleTopology is the shared Redis at clusterRedisAddr; each test keeps
// to a key prefix of its own (clusterPrefix).
func singleTopology(t testing.TB) *redisTopology {
	t.Helper()
	return singleAt(testenv.NeedRedis(t, clusterRedisAddr), clusterRedisAddr)
}

// singleAt is the one Redis at addr, with rdb a client of it.
func singleAt(rdb *redis.Client, addr string) *redisTopology {
	return &redisTopology{name: "single", args: []string{"--redis-url=redis://" + addr + "/0"}, client: rdb}
}

// clusterTopology starts a Redis Cluster of the test's own (by default
// three masters with a replica each). Its client reloads the slot map
// every second, as herald's does, so that it follows a failover.
func clusterTopology(t testing.TB, opts redistest.ClusterOptions) *redisTopology {
	t.Helper()
	c := redistest.StartCluster(t, opts)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = cc.Close() })
	return &redisTopology{
		name:    "cluster",
		args:    []string{"--redis-mode=cluster", "--redis-addrs=" + strings.Join(c.Addrs(), ",")},
		client:  cc,
		cluster: c,
	}
}

// sentinelTopology starts a master, its replicas and three Sentinels of
// the test's own.
func sentinelTopology(t testing.TB, opts redistest.SentinelOptions) *redisTopology {
	t.Helper()
	s := redistest.StartSentinel(t, opts)
	return &redisTopology{
		name: "sentinel",
		args: []string{"--redis-mode=sentinel", "--redis-addrs=" + strings.Join(s.SentinelAddrs(), ","),
			"--redis-sentinel-master=" + s.MasterName()},
		client:   s.Client(t),
		sentinel: s,
	}
}

// onTopologies runs body as the parallel subtests single, on the shared
// Redis, and cluster, on a Redis Cluster of its own: one cluster per test,
// because a redistest setup lives as long as the test that started it, and
// start-up (about 2 seconds) overlaps with the other tests' work.
func onTopologies(t *testing.T, body func(t *testing.T, rt *redisTopology)) {
	t.Helper()
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *redisTopology
	}{
		{"single", singleTopology},
		{"cluster", func(t testing.TB) *redisTopology { return clusterTopology(t, redistest.ClusterOptions{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body(t, tc.start(t))
		})
	}
}

// startCluster starts n nodes on rt under prefix.
func startCluster(t testing.TB, rt *redisTopology, n int, prefix string, extra ...string) []*server {
	t.Helper()
	nodes := make([]*server, n)
	for i := range nodes {
		args := append(append([]string{"--store=redis", "--redis-prefix=" + prefix}, rt.args...), extra...)
		nodes[i] = startServer(t, withArgs(args...))
	}
	return nodes
}

// eachMaster runs f on every master of rdb: the one server (or the master
// a failover client follows), or each master of a cluster, concurrently.
func eachMaster(ctx context.Context, rdb redis.UniversalClient, f func(context.Context, *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, f)
	case *redis.Client:
		return f(ctx, c)
	default:
		return fmt.Errorf("no masters of a %T", rdb)
	}
}

// clusterPrefix returns a fresh key prefix whose keys are deleted from
// every master at cleanup. Call it before starting the nodes, so that they
// are gone first.
func clusterPrefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := "herald-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// One DEL per key: a cluster refuses a DEL of keys in several
		// slots, even on one master.
		_ = eachMaster(ctx, rdb, func(ctx context.Context, m *redis.Client) error {
			iter := m.Scan(ctx, 0, p+"*", 1000).Iterator()
			pipe := m.Pipeline()
			for iter.Next(ctx) {
				pipe.Del(ctx, iter.Val())
				if pipe.Len() == 1000 {
					_, _ = pipe.Exec(ctx)
				}
			}
			_, _ = pipe.Exec(ctx)
			return iter.Err()
		})
	})
	return p
}

// userTag is the hash tag of user's keys and bus channel (as internal/bus
// and the Redis store name them).
func userTag(user string) string {
	return "{u:" + base64.RawURLEncoding.EncodeToString([]byte(user)) + "}"
}

// clusterChannel is the bus channel of user.
func clusterChannel(prefix, user string) string { return prefix + "bus:" + userTag(user) }

// subscribers counts the nodes subscribed to each channel: PUBSUB NUMSUB,
// or on a cluster PUBSUB SHARDNUMSUB on the master serving the channel's
// slot, the one place a sharded subscription is counted.
func subscribers(ctx context.Context, rdb redis.UniversalClient, chans []string) (map[string]int64, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.PubSubNumSub(ctx, chans...).Result()
	}
	got := make(map[string]int64, len(chans))
	for _, ch := range chans {
		m, err := cc.MasterForKey(ctx, ch)
		if err != nil {
			return nil, err
		}
		n, err := m.PubSubShardNumSub(ctx, ch).Result()
		if err != nil {
			return nil, err
		}
		got[ch] = n[ch]
	}
	return got, nil
}

// waitSubscribed waits until n nodes listen to each user's channel: a node
// subscribes shortly after a user's first stream opens, and what is
// published before reaches that stream only with the next entry.
func waitSubscribed(t *testing.T, rdb redis.UniversalClient, prefix string, n int64, users ...string) {
	t.Helper()
	chans := make([]string, len(users))
	for i, u := range users {
		chans[i] = clusterChannel(prefix, u)
	}
	var got map[string]int64
	var err error
	waitFor(t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if got, err = subscribers(ctx, rdb, chans); err != nil {
			return false
		}
		for _, c := range chans {
			if got[c] != n {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("subscribers by channel %v (err %v), want %d each", got, err, n) })
}

// usersOn returns n user IDs starting with stem whose slot the master at
// addr serves.
func usersOn(t *testing.T, cc *redis.ClusterClient, addr, stem string, n int) []string {
	t.Helper()
	var out []string
	for i := 0; len(out) < n && i < 10000; i++ {
		u := fmt.Sprintf("%s-%d", stem, i)
		m, err := cc.MasterForKey(t.Context(), userTag(u))
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr == addr {
			out = append(out, u)
		}
	}
	if len(out) < n {
		t.Fatalf("found %d users on %s, want %d", len(out), addr, n)
	}
	return out
}

// ownRedis is a redis-server process of one test, persisting every write
// before it answers, so that a restart loses nothing acknowledged.
type ownRedis struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startOwnRedis starts a redis-server on a free port, killed at the test's
// end.
func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	bin := testenv.NeedCommand(t, "redis-server", "Debian package redis-server")
	r := &ownRedis{t: t, bin: bin, dir: t.TempDir(), addr: freeAddr(t)}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.bin, "--bind", "127.0.0.1", "--port", port, "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no")
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer c.Close()
	waitFor(r.t, 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err() == nil
	}, func() string { return "redis-server did not answer PING on " + r.addr })
}

// kill ends the server with SIGKILL: only what is in the append-only file
// survives.
func (r *ownRedis) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}
