package ticket_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/testenv"
	"github.com/heraldhq/herald/internal/ticket"
)

// testPrefix returns a key prefix of the test's own, whose keys are
// deleted when the test ends.
func testPrefix(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := "herald-test-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		keys, _ := rdb.Keys(ctx, p+"*").Result()
		for _, k := range keys {
			rdb.Del(ctx, k) // one by one: a cluster's keys lie in several slots
		}
	})
	return p
}

// TestRedis runs the contract with two nodes' clients of one Redis: a
// ticket issued by one is redeemed by the other, once.
func TestRedis(t *testing.T) {
	t.Parallel()
	a, b := testenv.NeedRedis(t, testenv.RedisAddr()), testenv.NeedRedis(t, testenv.RedisAddr())
	p := testPrefix(t, a)
	clk := newClock()
	o := ticket.RedisOptions{Options: ticket.Options{Now: clk.Now}, Prefix: p}
	contract(t, ticket.NewRedis(a, o), ticket.NewRedis(b, o), clk.Now)
}

// TestRedisKeys checks what Redis holds: the ticket's hash under the
// prefix, never the ticket, with Redis's expiry at the ticket's lifetime.
// Expiry itself is Redis's (SET PX): a ticket whose token expires in 50 ms
// is gone once the key is.
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rdb := testenv.NeedRedis(t, testenv.RedisAddr())
	p := testPrefix(t, rdb)
	r := ticket.NewRedis(rdb, ticket.RedisOptions{Prefix: p})
	tk, _, err := r.Issue(ctx, auth.Claims{User: "alice", Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != hashKey(p, tk) {
		t.Fatalf("keys %q, want [%s]", keys, hashKey(p, tk))
	}
	v, _ := rdb.Get(ctx, keys[0]).Result()
	if strings.Contains(v, tk) {
		t.Errorf("the value %q holds the ticket", v)
	}
	if ttl, err := rdb.PTTL(ctx, keys[0]).Result(); err != nil || ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("PTTL = %v, %v; want about 30s", ttl, err)
	}

	short, _, err := r.Issue(ctx, auth.Claims{User: "alice", Expiry: time.Now().Add(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	// Poll Redis's own expiry, every 20 ms for at most 5 s.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		n, err := rdb.Exists(ctx, hashKey(p, short)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if i == 250 {
			t.Fatal("the short ticket's key is still there after 5s")
		}
		<-tick.C
	}
	if _, ok, err := r.Redeem(ctx, short); ok || err != nil {
		t.Errorf("an expired ticket: %v, %v; want refused", ok, err)
	}
}

// TestRedisDown: a Redis that does not answer fails Issue and Redeem
// within the bound, as errors (503 to the client), not as refusals.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	r := ticket.NewRedis(rdb, ticket.RedisOptions{Timeout: time.Second})
	if _, _, err := r.Issue(t.Context(), auth.Claims{User: "alice"}); err == nil {
		t.Error("Issue succeeded without Redis")
	}
	if _, ok, err := r.Redeem(t.Context(), strings.Repeat("A", 43)); ok || err == nil {
		t.Errorf("Redeem without Redis = %v, %v; want an error", ok, err)
	}
}

// TestRedisCluster runs the contract on a Redis Cluster, with one cluster
// client per node: tickets land in every slot range and are found from
// the other node.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{Replicas: -1})
	a, b := c.Client(t), c.Client(t)
	p := testPrefix(t, a)
	clk := newClock()
	o := ticket.RedisOptions{Options: ticket.Options{Now: clk.Now}, Prefix: p}
	issuer, redeemer := ticket.NewRedis(a, o), ticket.NewRedis(b, o)
	contract(t, issuer, redeemer, clk.Now)

	// Enough tickets to touch every master.
	ctx := t.Context()
	for i := range 30 {
		tk, _, err := issuer.Issue(ctx, auth.Claims{User: "alice"})
		if err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
		if c, ok, err := redeemer.Redeem(ctx, tk); !ok || err != nil || c.User != "alice" {
			t.Fatalf("ticket %d: %+v, %v, %v", i, c, ok, err)
		}
	}
}
