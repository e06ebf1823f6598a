package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinels is how many Sentinels watch the master; quorum of them must
// agree it is down.
const (
	sentinels = 3
	quorum    = 2
)

// SentinelOptions configure StartSentinel. Zero values mean the defaults.
type SentinelOptions struct {
	// MasterName is the name the Sentinels monitor the master under
	// (default "herald").
	MasterName string
	// Replicas is how many replicas the master has (default 1). With two,
	// the promoted one has a replica again after a failover: the other
	// follows it.
	Replicas int
	// DownAfter is down-after-milliseconds (default 1s): how long the
	// master may not answer before a Sentinel counts it as down.
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout (default 3s); a failover that
	// failed is tried again after twice that.
	FailoverTimeout time.Duration
	// Args are more redis-server arguments for the master and the
	// replica, after the harness's own; a later value of an option wins.
	Args []string
}

func (o SentinelOptions) withDefaults() SentinelOptions {
	if o.MasterName == "" {
		o.MasterName = "herald"
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Second
	}
	if o.FailoverTimeout <= 0 {
		o.FailoverTimeout = 3 * time.Second
	}
	return o
}

// Sentinel is a running master and its replicas on 127.0.0.1, watched by
// three Sentinels with a quorum of two.
type Sentinel struct {
	g         *group
	opts      SentinelOptions
	servers   []string // the master, then the replicas, as started
	sentinels []string
}

// StartSentinel starts a master, opts.Replicas replicas of it and three
// Sentinels, and returns once every Sentinel names the master, knows the
// replicas and the other two Sentinels. The processes are killed when t
// ends.
func StartSentinel(t testing.TB, opts SentinelOptions) *Sentinel {
	t.Helper()
	opts = opts.withDefaults()
	defer setupTurn()()
	g := newGroup(t)
	began := time.Now()
	s := &Sentinel{g: g, opts: opts}
	server := func(extra ...string) func(int) ([]string, error) {
		return func(port int) ([]string, error) {
			args := append([]string{"--port", strconv.Itoa(port), "--dir", g.dir}, defaultServerArgs...)
			args = append(args, extra...)
			return append(args, opts.Args...), nil
		}
	}
	master := g.start("master", false, server())
	_, port, _ := net.SplitHostPort(master.addr)
	s.servers = []string{master.addr}
	for range opts.Replicas {
		replica := g.start("replica", false, server("--replicaof", "127.0.0.1", port))
		s.servers = append(s.servers, replica.addr)
	}
	// The replicas first, so that the Sentinels find them in the master's
	// INFO at once rather than at their next 10-second poll.
	for _, r := range s.servers[1:] {
		if err := waitFor(setupTimeout, func(ctx context.Context) error { return linkUp(ctx, r) }); err != nil {
			g.fatal("replica " + r + " did not sync: " + err.Error())
		}
	}
	for range sentinels {
		p := g.start("sentinel", false, func(port int) ([]string, error) {
			conf := filepath.Join(g.dir, fmt.Sprintf("sentinel-%d.conf", port))
			return []string{conf, "--sentinel"}, os.WriteFile(conf, []byte(s.config(port, master.addr)), 0o644)
		})
		s.sentinels = append(s.sentinels, p.addr)
	}
	if err := waitFor(setupTimeout, s.ready); err != nil {
		g.fatal("the sentinels did not agree: " + err.Error())
	}
	t.Logf("redistest: master, %d replicas and %d sentinels ready in %v", opts.Replicas, sentinels, time.Since(began).Round(time.Millisecond))
	return s
}

// config is a Sentinel's configuration file, which it rewrites as it
// learns.
func (s *Sentinel) config(port int, master string) string {
	host, mport, _ := net.SplitHostPort(master)
	name := s.opts.MasterName
	return strings.Join([]string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"dir " + s.g.dir,
		"sentinel resolve-hostnames no",
		fmt.Sprintf("sentinel monitor %s %s %s %d", name, host, mport, quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", name, s.opts.DownAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", name, s.opts.FailoverTimeout.Milliseconds()),
		fmt.Sprintf("sentinel parallel-syncs %s 1", name),
		"",
	}, "\n")
}

// ready reports why the Sentinels do not all know the master, the replicas
// and each other yet, or nil.
func (s *Sentinel) ready(ctx context.Context) error {
	name := s.opts.MasterName
	for _, a := range s.sentinels {
		m, err := masterOf(ctx, a, name)
		if err != nil {
			return err
		}
		if m != s.servers[0] {
			return fmt.Errorf("sentinel %s names master %s, want %s", a, m, s.servers[0])
		}
		replicas, err := sentinelList(ctx, a, "REPLICAS", name)
		if err != nil {
			return err
		}
		for _, want := range s.servers[1:] {
			if !slices.ContainsFunc(replicas, func(r map[string]string) bool {
				return net.JoinHostPort(r["ip"], r["port"]) == want && r["flags"] == "slave"
			}) {
				return fmt.Errorf("sentinel %s does not know replica %s as up: %v", a, want, replicas)
			}
		}
		others, err := sentinelList(ctx, a, "SENTINELS", name)
		if err != nil {
			return err
		}
		up := 0
		for _, o := range others {
			if o["flags"] == "sentinel" {
				up++
			}
		}
		if up != sentinels-1 {
			return fmt.Errorf("sentinel %s knows %d other sentinels as up, want %d", a, up, sentinels-1)
		}
	}
	return nil
}

// SentinelAddrs returns the addresses of the Sentinels.
func (s *Sentinel) SentinelAddrs() []string { return slices.Clone(s.sentinels) }

// Servers returns the addresses of the master and the replicas as they
// started, the master first; MasterAddr tells which is master now.
func (s *Sentinel) Servers() []string { return slices.Clone(s.servers) }

// MasterName returns the name the Sentinels monitor the master under.
func (s *Sentinel) MasterName() string { return s.opts.MasterName }

// MasterAddr returns the master's address as the first Sentinel still
// running names it (SENTINEL GET-MASTER-ADDR-BY-NAME).
func (s *Sentinel) MasterAddr(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []string
	for _, a := range s.liveSentinels() {
		m, err := masterOf(ctx, a, s.opts.MasterName)
		if err == nil {
			return m
		}
		errs = append(errs, err.Error())
	}
	t.Fatalf("redistest: no sentinel names the master: %s", strings.Join(errs, "; "))
	return ""
}

// AwaitFailover waits, for at most 30 seconds, until every Sentinel still
// running names a master other than from and that server says it is a
// master, and returns its address.
func (s *Sentinel) AwaitFailover(t testing.TB, from string) string {
	t.Helper()
	var to string
	err := waitFor(setupTimeout, func(ctx context.Context) error {
		to = ""
		for _, a := range s.liveSentinels() {
			m, err := masterOf(ctx, a, s.opts.MasterName)
			if err != nil {
				return err
			}
			if m == from || to != "" && m != to {
				return fmt.Errorf("sentinel %s names master %s", a, m)
			}
			to = m
		}
		info, err := do(ctx, to, "INFO", "replication").Text()
		if err != nil {
			return fmt.Errorf("new master %s: %w", to, err)
		}
		if role := infoField(info, "role"); role != "master" {
			return fmt.Errorf("new master %s has role %q", to, role)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: no failover from %s: %v", from, err)
	}
	return to
}

func (s *Sentinel) liveSentinels() []string {
	var out []string
	for _, a := range s.g.alive() {
		if slices.Contains(s.sentinels, a) {
			out = append(out, a)
		}
	}
	return out
}

// Client returns a client of the master that asks the Sentinels where it
// is (redis.NewFailoverClient), closed when t ends.
func (s *Sentinel) Client(t testing.TB) *redis.Client {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    s.opts.MasterName,
		SentinelAddrs: s.SentinelAddrs(),
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Kill kills the master, a replica or the Sentinel at addr with SIGKILL
// and waits until it exited.
func (s *Sentinel) Kill(t testing.TB, addr string) {
	t.Helper()
	s.g.kill(t, addr)
}

// Pid returns the process ID of the server or Sentinel at addr, or 0 if
// there is none.
func (s *Sentinel) Pid(addr string) int { return s.g.pid(addr) }

// Flush empties the master (FLUSHALL), which the replicas follow.
func (s *Sentinel) Flush(t testing.TB) {
	t.Helper()
	m := s.MasterAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := do(ctx, m, "FLUSHALL").Err(); err != nil {
		t.Fatalf("redistest: FLUSHALL on %s: %v", m, err)
	}
}

// linkUp reports whether the replica at addr has its link to the master
// up.
func linkUp(ctx context.Context, addr string) error {
	info, err := do(ctx, addr, "INFO", "replication").Text()
	if err != nil {
		return fmt.Errorf("%s: INFO replication: %w", addr, err)
	}
	if got := infoField(info, "master_link_status"); got != "up" {
		return fmt.Errorf("replica %s: master_link_status is %q", addr, got)
	}
	return nil
}

// masterOf asks the Sentinel at addr for the address of master name.
func masterOf(ctx context.Context, addr, name string) (string, error) {
	v, err := do(ctx, addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).StringSlice()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME: %w", addr, err)
	}
	if len(v) != 2 {
		return "", fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME: %q", addr, v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// sentinelList runs SENTINEL REPLICAS or SENTINELS for master name, whose
// reply (in RESP2) is a list of flat field-value lists.
func sentinelList(ctx context.Context, addr, sub, name string) ([]map[string]string, error) {
	v, err := do(ctx, addr, "SENTINEL", sub, name).Slice()
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %s: %w", addr, sub, err)
	}
	out := make([]map[string]string, 0, len(v))
	for _, item := range v {
		fields, _ := item.([]any)
		m := map[string]string{}
		for i := 0; i+1 < len(fields); i += 2 {
			m[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
		}
		out = append(out, m)
	}
	return out, nil
}
