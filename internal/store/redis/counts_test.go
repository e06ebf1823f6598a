package redisstore

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// recountScript counts a user's entries the slow way, from every state:
// those among the newest keep (ARGV[3]) that are live.
var recountScript = redis.NewScript(prelude + `
local now, cutoff, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local m = redis.call('HMGET', KEYS[1], 'last', 'b')
local last, key, prefix = tonumber(m[1] or '0'), KEYS[2], ''
if m[2] then
  last, key, prefix = tonumber(redis.call('HGET', KEYS[3], 'last') or m[2]), KEYS[3], 's'
end
local function live(c, t, x) return c > last - keep and t >= cutoff and (x == 0 or x > now) end
local cu, cs = 0, 0
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local c = all[i]
  if prefix ~= '' then
    c = string.byte(c, 1) == 115 and string.sub(c, 2)
  end
  local f, t, x
  if c then f, t, x = parse(all[i + 1]) end
  if c and live(tonumber(c), t, x) and not has(f, 4) then
    if not has(f, 2) then cu = cu + 1 end
    if not has(f, 1) then cs = cs + 1 end
  end
end
return {cu, cs}
`)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestCountersExact: the stored counters, corrected for what aged and
// expired since, always equal a count of every entry, through appends,
// trimming by count and age (in batches), expiry and marks in random
// order.
func TestCountersExact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		keep int
		seed uint64
	}{{20, 1}, {20, 7}, {5, 3}, {40, 9}} {
		for _, l := range []Layout{LayoutV1, LayoutV2} {
			t.Run(fmt.Sprintf("%s/keep=%d/seed=%d", l, tc.keep, tc.seed), func(t *testing.T) {
				t.Parallel()
				countersExact(t, l, tc.keep, tc.seed)
			})
		}
	}
}

func countersExact(t *testing.T, layout Layout, keep int, seed uint64) {
	clk := &testClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := OpenTest(t, Options{Layout: layout, RetentionCount: keep, RetentionAge: time.Hour, Now: clk.Now})
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	const user = "counted"
	var ids []string
	for step := range 600 {
		switch op := rng.IntN(10); {
		case op < 5:
			n := &notify.Notification{ID: fmt.Sprintf("n%d", step), Title: "t", CreateTime: clk.Now()}
			if rng.IntN(3) == 0 {
				n.ExpireTime = clk.Now().Add(time.Duration(rng.IntN(40)-5) * time.Minute)
			}
			if _, err := s.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: user}}}}); err != nil {
				t.Fatalf("step %d: Append: %v", step, err)
			}
			ids = append(ids, n.ID)
		case op < 8:
			m := store.Mark{Action: store.MarkAction(1 + rng.IntN(5))}
			if rng.IntN(2) == 0 && len(ids) > 0 {
				for range 1 + rng.IntN(3) {
					m.IDs = append(m.IDs, ids[rng.IntN(len(ids))])
				}
			} else {
				last, _ := s.Last(ctx, user)
				m.UpTo = notify.Cursor(rng.IntN(int(last) + 2))
			}
			_, got, err := s.Mark(ctx, user, m)
			if err != nil {
				t.Fatalf("step %d: Mark: %v", step, err)
			}
			if want := recount(t, s, user); got != want {
				t.Fatalf("step %d: Mark %+v returned counts %+v, recount %+v", step, m, got, want)
			}
		default:
			clk.Advance(time.Duration(rng.IntN(12)) * time.Minute)
		}
		got, err := s.Counts(ctx, user)
		if err != nil {
			t.Fatalf("step %d: Counts: %v", step, err)
		}
		if want := recount(t, s, user); got != want {
			t.Fatalf("step %d: Counts = %+v, recount %+v", step, got, want)
		}
		p, err := s.List(ctx, user, store.ListQuery{Limit: 5})
		if err != nil || p.Counts != got {
			t.Fatalf("step %d: List counts %+v (%v), Counts %+v", step, p.Counts, err, got)
		}
	}
}

func recount(t *testing.T, s *Store, user notify.UserID) notify.Counts {
	t.Helper()
	now := s.opts.Now()
	vs, err := recountScript.Run(t.Context(), s.rdb, s.userKeys(user).inbox(), micros(now), s.cutoff(now), s.opts.RetentionCount).Int64Slice()
	if err != nil {
		t.Fatalf("recount: %v", err)
	}
	return notify.Counts{Unread: int(vs[0]), Unseen: int(vs[1])}
}
