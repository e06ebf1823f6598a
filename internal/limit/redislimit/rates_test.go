package redislimit_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/limit/redislimit"
)

// TestRatesSharedByNodes: two nodes on one Redis take from one bucket per
// service: together they pass the burst, not twice it, and a refusal says
// how long to wait.
func TestRatesSharedByNodes(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	ra := redislimit.NewRates(a.rdb, redislimit.Options{Prefix: p, Registerer: a.reg})
	rb := redislimit.NewRates(b.rdb, redislimit.Options{Prefix: p, Registerer: b.reg})
	ctx := t.Context()

	// One token every 10 s: none comes back while the test runs.
	slow := limit.Rate{PerSecond: 0.1, Burst: 10}
	for i := range 10 {
		r := ra
		if i%2 == 1 {
			r = rb
		}
		if _, _, ok := r.Take(ctx, "billing", slow, 1); !ok {
			t.Fatalf("notification %d of the burst of 10 refused", i)
		}
	}
	for name, r := range map[string]*redislimit.Rates{"node a": ra, "node b": rb} {
		_, wait, ok := r.Take(ctx, "billing", slow, 1)
		if ok {
			t.Fatalf("%s: the 11th of a burst of 10 passed; the nodes do not share the bucket", name)
		}
		if wait <= 0 || wait > 10*time.Second {
			t.Errorf("%s: wait %v, want (0, 10s]: one token at 0.1/s", name, wait)
		}
	}
	// Another service has a bucket of its own.
	if _, _, ok := rb.Take(ctx, "ops", slow, 10); !ok {
		t.Error("another service's burst refused")
	}

	// A whole rate: after a burst of 5 at 10/s, the next one waits at
	// most a token's 100 ms, as on one node.
	fast := limit.Rate{PerSecond: 10, Burst: 5}
	if _, _, ok := ra.Take(ctx, "fast", fast, 5); !ok {
		t.Fatal("burst of 5 refused")
	}
	if _, wait, ok := rb.Take(ctx, "fast", fast, 1); ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Errorf("after the burst: ok %v wait %v, want refused within (0, 100ms]", ok, wait)
	}
	if got := failOpen(t, a.reg, "notify_rate") + failOpen(t, b.reg, "notify_rate"); got != 0 {
		t.Errorf("fail_open_total = %v with Redis up, want 0", got)
	}
}

// TestRatesBatchAndUndo: a batch of n takes n on every node, a refused one
// takes none, and undo gives back what a failed request took, no more.
func TestRatesBatchAndUndo(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	ra := redislimit.NewRates(a.rdb, redislimit.Options{Prefix: p})
	rb := redislimit.NewRates(b.rdb, redislimit.Options{Prefix: p})
	ctx := t.Context()
	slow := limit.Rate{PerSecond: 0.1, Burst: 10}

	undo, _, ok := ra.Take(ctx, "billing", slow, 6)
	if !ok {
		t.Fatal("batch of 6 of a burst of 10 refused")
	}
	if _, wait, ok := rb.Take(ctx, "billing", slow, 5); ok || wait <= 9*time.Second || wait > 10*time.Second {
		t.Fatalf("batch of 5 with 4 left: ok %v wait %v, want refused, one token (9s, 10s] away", ok, wait)
	}
	if _, _, ok := rb.Take(ctx, "billing", slow, 4); !ok {
		t.Fatal("batch of 4 with 4 left refused: the refused batch took some")
	}
	undo() // node a's request failed: its 6 come back, on every node
	if _, _, ok := rb.Take(ctx, "billing", slow, 6); !ok {
		t.Fatal("batch of 6 after the undo of 6 refused")
	}
	if _, _, ok := ra.Take(ctx, "billing", slow, 1); ok {
		t.Fatal("one more after the 6 given back were taken again passed: undo gave back too much")
	}
	// More than the burst in one call never passes.
	if _, wait, ok := ra.Take(ctx, "other", slow, 11); ok || wait < time.Hour {
		t.Errorf("11 of a burst of 10: ok %v wait %v, want refused for ever", ok, wait)
	}

	// An undo when the bucket has refilled meanwhile gives back nothing:
	// a bucket is never fuller than its burst.
	// A token comes back every 200 ms: the key expires soon, and the two
	// takes below are not 200 ms apart even on a busy machine (at 1,000/s
	// a token came back between them).
	fast := limit.Rate{PerSecond: 5, Burst: 2}
	undo, _, _ = ra.Take(ctx, "refill", fast, 1)
	waitFor(t, 5*time.Second, func() bool { return a.rdb.Exists(ctx, p+"rate:{s:"+enc("refill")+"}").Val() == 0 }, "the full bucket's key did not expire")
	undo()
	if _, _, ok := rb.Take(ctx, "refill", fast, 2); !ok {
		t.Fatal("burst refused after an undo on a full bucket")
	}
	if _, _, ok := rb.Take(ctx, "refill", fast, 1); ok {
		t.Fatal("one over the burst passed after an undo on a full bucket")
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestRateKey: a service's state lives under the deployment's prefix, in
// one hash slot, and expires once its bucket is full again.
func TestRateKey(t *testing.T) {
	t.Parallel()
	a := newNode(t)
	p := prefix(t, a.rdb)
	r := redislimit.NewRates(a.rdb, redislimit.Options{Prefix: p})
	ctx := t.Context()
	const service = "odd{name}:x"
	if _, _, ok := r.Take(ctx, service, limit.Rate{PerSecond: 1, Burst: 5}, 2); !ok {
		t.Fatal("refused")
	}
	key := p + "rate:{s:" + enc(service) + "}"
	if ttl := a.rdb.TTL(ctx, key).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("TTL of %s = %v, want (0, 2s]: two tokens at 1/s", key, ttl)
	}
	if n := a.rdb.Exists(ctx, "rate:"+key).Val(); n != 0 {
		t.Errorf("redis_rate's own prefix is still on the key")
	}
}

// TestRatesFailOpen: a Redis that cannot be reached, or hangs, costs a
// check at most the timeout; the node's own bucket decides meanwhile, and
// the decisions are counted.
func TestRatesFailOpen(t *testing.T) {
	t.Parallel()
	const timeout = 150 * time.Millisecond
	for name, rdb := range map[string]func(*testing.T) *redis.Client{"closed": closedRedis, "silent": silentRedis} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			r := redislimit.NewRates(rdb(t), redislimit.Options{Prefix: "herald-test-down:", Timeout: timeout, Registerer: n.reg})
			rt := limit.Rate{PerSecond: 0.1, Burst: 2}
			for i := range 3 {
				start := time.Now()
				undo, _, ok := r.Take(t.Context(), "billing", rt, 1)
				if d := time.Since(start); d > timeout+time.Second {
					t.Fatalf("check %d took %v with Redis down, want about the timeout of %v", i, d, timeout)
				}
				if want := i < 2; ok != want {
					t.Fatalf("check %d: ok %v, want %v (the node's own burst of 2)", i, ok, want)
				}
				if i == 1 {
					undo() // given back to the node's bucket
					if _, _, ok := r.Take(t.Context(), "billing", rt, 1); !ok {
						t.Fatal("the local undo gave nothing back")
					}
				}
			}
			if got := failOpen(t, n.reg, "notify_rate"); got != 4 {
				t.Errorf("fail_open_total{limit=notify_rate} = %v, want every check (4) counted", got)
			}
		})
	}
}
