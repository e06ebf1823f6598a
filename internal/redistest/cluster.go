package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/testenv"
)

// slots is how many hash slots a Redis Cluster has.
const slots = 16384

// ClusterOptions configure StartCluster. Zero values mean the defaults.
type ClusterOptions struct {
	// Masters is how many masters share the slots (default 3, the least
	// redis-cli creates a cluster of).
	Masters int
	// Replicas is how many replicas each master has (default 1; negative
	// means none).
	Replicas int
	// NodeTimeout is cluster-node-timeout (default 1s): how long a node
	// may not answer before the others count it as failing.
	NodeTimeout time.Duration
	// Args are more redis-server arguments for every node, such as
	// "--appendonly", "yes". They come after the harness's own (no
	// persistence), and a later value of an option wins.
	Args []string
}

func (o ClusterOptions) withDefaults() ClusterOptions {
	if o.Masters == 0 {
		o.Masters = 3
	}
	switch {
	case o.Replicas == 0:
		o.Replicas = 1
	case o.Replicas < 0:
		o.Replicas = 0
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	return o
}

// Cluster is a running Redis Cluster on 127.0.0.1.
type Cluster struct {
	g     *group
	opts  ClusterOptions
	addrs []string // every node, in start order
}

// StartCluster starts opts.Masters masters and opts.Replicas replicas of
// each, joins them with `redis-cli --cluster create`, and returns once
// every node reports cluster_state:ok with all slots assigned, sees the
// same masters and replicas, and every replica's link to its master is
// up. The nodes are killed when t ends.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	opts = opts.withDefaults()
	if opts.Masters < 3 {
		t.Fatalf("redistest: a cluster of %d masters: redis-cli creates none of fewer than 3", opts.Masters)
	}
	cli := testenv.NeedCommand(t, "redis-cli", cliFrom)
	defer setupTurn()()
	g := newGroup(t)
	began := time.Now()
	c := &Cluster{g: g, opts: opts}
	timeout := strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10)
	for range opts.Masters * (1 + opts.Replicas) {
		p := g.start("node", true, func(port int) ([]string, error) {
			args := []string{
				"--port", strconv.Itoa(port),
				"--dir", g.dir,
				"--cluster-enabled", "yes",
				"--cluster-node-timeout", timeout,
				"--cluster-config-file", filepath.Join(g.dir, fmt.Sprintf("nodes-%d.conf", port)),
			}
			args = append(args, defaultServerArgs...)
			return append(args, opts.Args...), nil
		})
		c.addrs = append(c.addrs, p.addr)
	}
	c.create(cli)
	if err := waitFor(setupTimeout, c.ready); err != nil {
		g.fatal("the cluster did not come up: " + err.Error())
	}
	t.Logf("redistest: cluster of %d masters and %d replicas each ready in %v", opts.Masters, opts.Replicas, time.Since(began).Round(time.Millisecond))
	return c
}

// create runs redis-cli --cluster create, its output in a log of its own.
func (c *Cluster) create(cli string) {
	c.g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.opts.Replicas), "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Dir = c.g.dir
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	logPath := filepath.Join(c.g.dir, "cluster-create.log")
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		c.g.fatal(fmt.Sprintf("redis-cli --cluster create: %v; last lines of %s:\n%s", err, logPath, tail(logPath, logTail)))
	}
}

// ready reports why the cluster is not ready yet, or nil.
func (c *Cluster) ready(ctx context.Context) error {
	want := len(c.addrs)
	for _, a := range c.addrs {
		info, err := do(ctx, a, "CLUSTER", "INFO").Text()
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", a, err)
		}
		for field, v := range map[string]string{
			"cluster_state":          "ok",
			"cluster_slots_assigned": strconv.Itoa(slots),
			"cluster_known_nodes":    strconv.Itoa(want),
			"cluster_size":           strconv.Itoa(c.opts.Masters),
		} {
			if got := infoField(info, field); got != v {
				return fmt.Errorf("%s: %s is %q, want %q", a, field, got, v)
			}
		}
		masters, replicas, err := topology(ctx, a)
		if err != nil {
			return err
		}
		if len(masters) != c.opts.Masters || len(replicas) != c.opts.Masters*c.opts.Replicas {
			return fmt.Errorf("%s sees %d masters and %d replicas, want %d and %d", a, len(masters), len(replicas), c.opts.Masters, c.opts.Masters*c.opts.Replicas)
		}
	}
	_, replicas, err := topology(ctx, c.addrs[0])
	if err != nil {
		return err
	}
	for r := range replicas {
		info, err := do(ctx, r, "INFO", "replication").Text()
		if err != nil {
			return fmt.Errorf("%s: INFO replication: %w", r, err)
		}
		if got := infoField(info, "master_link_status"); got != "up" {
			return fmt.Errorf("replica %s: master_link_status is %q", r, got)
		}
	}
	return nil
}

// Addrs returns the address of every node, in the order they started:
// seeds for a cluster client.
func (c *Cluster) Addrs() []string { return slices.Clone(c.addrs) }

// Masters returns the addresses of the masters that own slots now, sorted,
// as the first node still running reports them (CLUSTER NODES).
func (c *Cluster) Masters(t testing.TB) []string {
	t.Helper()
	m, _ := c.topology(t)
	return m
}

// Replicas returns the replicas now, each mapped to its master's address,
// as the first node still running reports them.
func (c *Cluster) Replicas(t testing.TB) map[string]string {
	t.Helper()
	_, r := c.topology(t)
	return r
}

func (c *Cluster) topology(t testing.TB) ([]string, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []string
	for _, a := range c.g.alive() {
		m, r, err := topology(ctx, a)
		if err == nil {
			return m, r
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("redistest: no node of the cluster answers CLUSTER NODES: %s", strings.Join(errs, "; "))
	return nil, nil
}

// Client returns a cluster client seeded with every node, closed when t
// ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Kill kills the node at addr with SIGKILL and waits until it exited.
func (c *Cluster) Kill(t testing.TB, addr string) {
	t.Helper()
	c.g.kill(t, addr)
}

// Pid returns the process ID of the node at addr, or 0 if there is none.
func (c *Cluster) Pid(addr string) int { return c.g.pid(addr) }

// Flush empties the cluster: FLUSHALL on every master, which its replicas
// follow.
func (c *Cluster) Flush(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range c.Masters(t) {
		if err := do(ctx, m, "FLUSHALL").Err(); err != nil {
			t.Fatalf("redistest: FLUSHALL on %s: %v", m, err)
		}
	}
}

// topology asks the node at addr for the masters that own slots (sorted)
// and the replicas with their masters, leaving out nodes flagged failing.
func topology(ctx context.Context, addr string) ([]string, map[string]string, error) {
	text, err := do(ctx, addr, "CLUSTER", "NODES").Text()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
	}
	nodes := parseNodes(text)
	byID := map[string]clusterNode{}
	for _, n := range nodes {
		byID[n.id] = n
	}
	var masters []string
	replicas := map[string]string{}
	for _, n := range nodes {
		switch {
		case n.failing():
		case n.has("master") && n.slots > 0:
			masters = append(masters, n.addr)
		case n.has("slave"):
			if m, ok := byID[n.master]; ok && !m.failing() {
				replicas[n.addr] = m.addr
			}
		}
	}
	slices.Sort(masters)
	return masters, replicas, nil
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id     string
	addr   string // host:port, without the bus port
	flags  []string
	master string // a replica's master's ID
	slots  int    // how many it owns
}

func (n clusterNode) has(flag string) bool { return slices.Contains(n.flags, flag) }

func (n clusterNode) failing() bool {
	return n.has("fail") || n.has("fail?") || n.has("handshake") || n.has("noaddr")
}

// parseNodes reads CLUSTER NODES: <id> <ip:port@cport[,hostname]> <flags>
// <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>…
func parseNodes(text string) []clusterNode {
	var out []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated or imported
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && b >= a {
				n.slots += b - a + 1
			}
		}
		out = append(out, n)
	}
	return out
}
