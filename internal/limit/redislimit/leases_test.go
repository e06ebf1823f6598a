package redislimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/limit/redislimit"
	"github.com/heraldhq/herald/internal/notify"
)

const perUser = 16

// streamsOn returns node n's stream counter on the ledger under p.
func streamsOn(n node, p string, o redislimit.Options) (*limit.Streams, *redislimit.Leases) {
	o.Prefix = p
	o.Registerer = n.reg
	l := redislimit.NewLeases(n.rdb, o)
	return limit.NewStreams(perUser, n.reg, nil, limit.WithLedger(l)), l
}

// TestStreamsAcrossNodes: a user's streams count on every node: with 16
// open across two nodes, the 17th is refused on either, and a stream that
// ends frees its slot for the other node at once.
func TestStreamsAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	sa, _ := streamsOn(a, p, redislimit.Options{})
	sb, _ := streamsOn(b, p, redislimit.Options{})
	ctx := t.Context()

	var onA []func()
	for i := range perUser {
		s := sa
		if i%2 == 1 {
			s = sb
		}
		release, ok := s.Acquire(ctx, "alice")
		if !ok {
			t.Fatalf("stream %d of %d refused", i+1, perUser)
		}
		if s == sa {
			onA = append(onA, release)
		}
	}
	for name, s := range map[string]*limit.Streams{"node a": sa, "node b": sb} {
		if _, ok := s.Acquire(ctx, "alice"); ok {
			t.Fatalf("%s: stream %d accepted, with %d open across the nodes", name, perUser+1, perUser)
		}
	}
	if _, ok := sb.Acquire(ctx, "bob"); !ok {
		t.Fatal("another user refused")
	}
	if got := a.rdb.ZCard(ctx, p+"{u:"+enc("alice")+"}:streams").Val(); got != perUser {
		t.Errorf("alice's set holds %d streams, want %d", got, perUser)
	}

	onA[0]()
	onA[0]() // a second release frees nothing more
	if _, ok := sb.Acquire(ctx, "alice"); !ok {
		t.Fatal("node b refused a stream right after node a's ended")
	}
	if _, ok := sa.Acquire(ctx, "alice"); ok {
		t.Fatal("a second release freed a second slot")
	}
	if got := counterValue(t, a.reg, "herald_limit_streams_refused_total"); got != 2 {
		t.Errorf("node a refused_total = %v, want 2", got)
	}
	if got := counterValue(t, b.reg, "herald_limit_streams_refused_total"); got != 1 {
		t.Errorf("node b refused_total = %v, want 1", got)
	}
}

// TestLeaseOfDeadNode: a node's refreshes keep its streams counted past
// their first lease; once it stops refreshing (it died), they stop counting
// within a lease, and the user may open streams elsewhere.
func TestLeaseOfDeadNode(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	const lease = 1500 * time.Millisecond
	sa, la := streamsOn(a, p, redislimit.Options{Lease: lease})
	sb, _ := streamsOn(b, p, redislimit.Options{Lease: lease})
	ctx := t.Context()
	runCtx, die := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = la.Run(runCtx); close(ran) }()
	t.Cleanup(func() { die(); <-ran })

	for i := range perUser {
		if _, ok := sa.Acquire(ctx, "carol"); !ok {
			t.Fatalf("stream %d refused", i+1)
		}
	}
	key := p + "{u:" + enc("carol") + "}:streams"
	first := a.rdb.ZRangeWithScores(ctx, key, -1, -1).Val()[0].Score
	// Until Redis's clock is past the first lease of every stream.
	waitFor(t, 10*time.Second, func() bool { return redisMillis(t, a) > first }, "Redis's clock did not pass the first lease")
	if _, ok := sb.Acquire(ctx, "carol"); ok {
		t.Fatal("a stream of a live node stopped counting after its first lease: the refresh does not run")
	}

	die() // node a dies: no more refreshes, no releases
	<-ran
	start := time.Now()
	waitFor(t, 3*lease, func() bool {
		release, ok := sb.Acquire(ctx, "carol")
		if ok {
			release()
		}
		return ok
	}, "the dead node's streams still count")
	t.Logf("slot free %v after the last refresh stopped (lease %v)", time.Since(start).Round(time.Millisecond), lease)
}

// redisMillis is Redis's clock in milliseconds, as the scripts read it.
func redisMillis(t *testing.T, n node) float64 {
	t.Helper()
	now, err := n.rdb.Time(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return float64(now.UnixMilli())
}

// TestLeasesRefreshAddsBack: a stream whose lease lapsed while its node
// could not reach Redis is counted again by the next refresh; so is one
// admitted while Redis was down.
func TestLeasesRefreshAddsBack(t *testing.T) {
	t.Parallel()
	a := newNode(t)
	p := prefix(t, a.rdb)
	sa, la := streamsOn(a, p, redislimit.Options{})
	ctx := t.Context()
	release, ok := sa.Acquire(ctx, "dave")
	if !ok {
		t.Fatal("refused")
	}
	key := p + "{u:" + enc("dave") + "}:streams"
	a.rdb.Del(ctx, key) // as if the lease lapsed
	if err := la.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.rdb.ZCard(ctx, key).Val(); got != 1 {
		t.Fatalf("after a refresh: %d streams in the set, want 1", got)
	}
	if ttl := a.rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > redislimit.DefaultLease {
		t.Errorf("PTTL %v, want (0, %v]", ttl, redislimit.DefaultLease)
	}
	release()
	if got := a.rdb.Exists(ctx, key).Val(); got != 0 {
		t.Errorf("the set is still there after its last stream ended")
	}
	if err := la.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.rdb.Exists(ctx, key).Val(); got != 0 {
		t.Errorf("a refresh brought back a stream that ended")
	}
}

// TestLeasesFailOpen: with Redis unreachable or hanging, a stream is
// admitted within the timeout on the node's own count, which still holds
// the limit on this node; the decisions are counted.
func TestLeasesFailOpen(t *testing.T) {
	t.Parallel()
	const timeout = 150 * time.Millisecond
	for name, rdb := range map[string]func(*testing.T) *redis.Client{"closed": closedRedis, "silent": silentRedis} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			l := redislimit.NewLeases(rdb(t), redislimit.Options{Prefix: "herald-test-down:", Timeout: timeout, Registerer: reg})
			s := limit.NewStreams(perUser, reg, nil, limit.WithLedger(l))
			var releases []func()
			for i := range perUser + 1 {
				start := time.Now()
				release, ok := s.Acquire(t.Context(), notify.UserID("erin"))
				if d := time.Since(start); d > timeout+time.Second {
					t.Fatalf("stream %d: Acquire took %v with Redis down, want about the timeout of %v", i+1, d, timeout)
				}
				if want := i < perUser; ok != want {
					t.Fatalf("stream %d: ok %v, want %v (the node's own count)", i+1, ok, want)
				}
				if ok {
					releases = append(releases, release)
				}
			}
			start := time.Now()
			for _, r := range releases {
				r()
			}
			if d := time.Since(start); d > timeout+time.Second {
				t.Errorf("%d releases took %v with Redis down", len(releases), d)
			}
			if got := failOpen(t, reg, "streams"); got != perUser {
				t.Errorf("fail_open_total{limit=streams} = %v, want %d (the 17th was refused by the node's own count)", got, perUser)
			}
		})
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
