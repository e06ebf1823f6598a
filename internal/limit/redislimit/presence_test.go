package redislimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/limit"
	"github.com/heraldhq/herald/internal/limit/redislimit"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
)

// presenceOf reads one user's presence through l.
func presenceOf(t *testing.T, l *redislimit.Leases, u notify.UserID) presence.State {
	t.Helper()
	got, err := l.Presence(t.Context(), []notify.UserID{u})
	if err != nil || len(got) != 1 {
		t.Fatalf("Presence(%s) = %v, %v", u, got, err)
	}
	return got[0]
}

// TestPresenceAcrossNodes: a stream on node a shows online on node b; once
// it ends the user is offline there, last seen at its end; a user never
// seen has no last seen time.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	sa, _ := streamsOn(a, p, redislimit.Options{})
	_, lb := streamsOn(b, p, redislimit.Options{})
	ctx := t.Context()

	if got := presenceOf(t, lb, "dave"); got.Online || !got.LastSeen.IsZero() {
		t.Fatalf("never seen: %+v, want offline without last seen", got)
	}
	r1, _ := sa.Acquire(ctx, "dave")
	r2, _ := sa.Acquire(ctx, "dave")
	if got := presenceOf(t, lb, "dave"); !got.Online {
		t.Fatalf("streaming on node a: %+v, want online on node b", got)
	}
	r1()
	if got := presenceOf(t, lb, "dave"); !got.Online {
		t.Fatalf("one stream left: %+v, want online", got)
	}
	before := time.UnixMilli(int64(redisMillis(t, a)))
	r2()
	after := time.UnixMilli(int64(redisMillis(t, a)))
	got := presenceOf(t, lb, "dave")
	if got.Online || got.LastSeen.Before(before) || got.LastSeen.After(after) {
		t.Fatalf("all ended: %+v, want offline, last seen in [%v, %v]", got, before, after)
	}

	all, err := lb.Presence(ctx, []notify.UserID{"erin", "dave"})
	if err != nil || len(all) != 2 || all[0].User != "erin" || all[1].User != "dave" || all[1].LastSeen.IsZero() {
		t.Fatalf("Presence(erin, dave) = %+v, %v", all, err)
	}
}

// TestPresenceOfDeadNode: the streams of a node that died show offline
// once their lease lapses, last seen at the node's last refresh.
func TestPresenceOfDeadNode(t *testing.T) {
	t.Parallel()
	a, b := newNode(t), newNode(t)
	p := prefix(t, a.rdb)
	const lease = 900 * time.Millisecond
	sa, la := streamsOn(a, p, redislimit.Options{Lease: lease})
	_, lb := streamsOn(b, p, redislimit.Options{Lease: lease})
	ctx := t.Context()
	if _, ok := sa.Acquire(ctx, "frank"); !ok {
		t.Fatal("stream refused")
	}
	if err := la.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	refreshed := time.UnixMilli(int64(redisMillis(t, a)))
	if got := presenceOf(t, lb, "frank"); !got.Online {
		t.Fatalf("%+v, want online", got)
	}
	// Node a dies: no refresh, no release.
	waitFor(t, 10*lease, func() bool { return !presenceOf(t, lb, "frank").Online }, "a dead node's stream still shows online")
	got := presenceOf(t, lb, "frank")
	if got.LastSeen.IsZero() || got.LastSeen.After(refreshed) || refreshed.Sub(got.LastSeen) > lease {
		t.Fatalf("%+v, want last seen at the refresh (≈ %v)", got, refreshed)
	}
}

// TestPresenceRedisDown: a read that Redis does not answer is unavailable,
// never a guess; a stream's end that Redis does not record is counted and
// the stream itself is not held up past the bound.
func TestPresenceRedisDown(t *testing.T) {
	t.Parallel()
	for name, n := range map[string]node{
		"closed": {rdb: closedRedis(t), reg: newNode(t).reg},
		"silent": {rdb: silentRedis(t), reg: newNode(t).reg},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := redislimit.Options{Prefix: "herald-test-down:", Registerer: n.reg, Timeout: 100 * time.Millisecond}
			l := redislimit.NewLeases(n.rdb, o)
			_, err := l.Presence(t.Context(), []notify.UserID{"gina"})
			if !errors.Is(err, notify.ErrUnavailable) {
				t.Fatalf("Presence err = %v, want ErrUnavailable", err)
			}
			s := limit.NewStreams(perUser, n.reg, nil, limit.WithLedger(l))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			release, ok := s.Acquire(ctx, "gina")
			if !ok {
				t.Fatal("stream refused while Redis is down: the ledger must fail open")
			}
			start := time.Now()
			release()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("release took %v with Redis down", d)
			}
		})
	}
}
