package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
	"github.com/heraldhq/herald/internal/testenv"
)

// pipelines is a go-redis hook that records the pipelines of a client: per
// pipeline, each command's name and, for a script, its first key.
type pipelines struct {
	mu   sync.Mutex
	seen [][]string
}

func (p *pipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (p *pipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var names []string
		for _, c := range cmds {
			name := c.Name()
			if args := c.Args(); strings.HasPrefix(name, "eval") && len(args) > 3 {
				name += " " + fmt.Sprint(args[3])
			}
			names = append(names, name)
		}
		p.mu.Lock()
		p.seen = append(p.seen, names)
		p.mu.Unlock()
		return next(ctx, cmds)
	}
}

// take returns the pipelines recorded since the last take that name a key
// under prefix.
func (p *pipelines) take(prefix string) [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]string
	for _, names := range p.seen {
		if slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, " "+prefix) }) {
			out = append(out, names)
		}
	}
	p.seen = nil
	return out
}

// convertInGroup: a v2 store appends, in one group, to users of whom only
// some have v1 inboxes. Those get "v1" from the append script, and only
// those are converted and appended to again, in one more pipeline, which
// ends with WAIT when the store waits for replicas; every user gets its
// entries once and in order, and the converted inboxes keep their flags.
func convertInGroup(t *testing.T, base redisstore.Options) {
	rec := &pipelines{}
	_, cluster := base.Client.(*redis.ClusterClient)
	if base.Client == nil {
		base.Client = testenv.NeedRedis(t, redisstore.TestAddr)
	}
	if !cluster {
		// The node pipelines of a cluster (WaitReplicas) do not go
		// through the cluster client's hooks.
		base.Client.AddHook(rec)
	}
	base.Layout = redisstore.LayoutV1
	v1 := redisstore.OpenTest(t, base)
	v2 := redisstore.Reopen(t, v1, redisstore.LayoutV2)
	ctx := t.Context()
	deliver := func(s *redisstore.Store, ds ...store.Delivery) []store.Result {
		t.Helper()
		res, err := s.Append(ctx, ds)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		return res
	}
	to := func(id string, users ...notify.UserID) store.Delivery {
		d := store.Delivery{Notification: &notify.Notification{ID: id, Title: id, CreateTime: time.Now()}}
		for _, u := range users {
			d.Recipients = append(d.Recipients, store.Recipient{User: u})
		}
		return d
	}
	old := []notify.UserID{"ann", "cid", "eve"}                      // v1 inboxes
	fresh := []notify.UserID{"bob", "dee"}                           // v2 inboxes
	all := []notify.UserID{"ann", "bob", "cid", "dee", "eve", "fay"} // fay: none yet
	deliver(v1, to("a0", old...), to("a1", old...))
	deliver(v2, to("b0", fresh...))
	if _, _, err := v1.Mark(ctx, "ann", store.Mark{Action: store.MarkRead, IDs: []string{"a0"}}); err != nil {
		t.Fatalf("Mark: %v", err)
	}
	prefix := redisstore.UserKeys(v1, "ann")[0]
	prefix = prefix[:strings.Index(prefix, "{")]
	rec.take(prefix)

	res := deliver(v2, to("n0", all...), to("n1", "eve", "ann", "bob"))
	if res[0].Recipients != 6 || res[1].Recipients != 3 {
		t.Fatalf("results %+v, want 6 and 3 recipients", res)
	}
	if !cluster {
		// The group's pipeline, then the conversions' with the appends
		// again of the v1 users only, each after its conversion.
		ps := rec.take(prefix)
		if len(ps) != 2 {
			t.Fatalf("%d pipelines, want 2: %q", len(ps), ps)
		}
		var want []string
		for _, u := range []notify.UserID{"ann", "cid", "eve"} {
			meta := redisstore.UserKeys(v1, string(u))[0]
			want = append(want, "eval "+meta, "evalsha "+meta)
		}
		if base.WaitReplicas > 0 {
			want = append(want, "wait")
		}
		if !slices.Equal(ps[1], want) {
			t.Fatalf("second pipeline %q, want %q", ps[1], want)
		}
	}
	for _, u := range all {
		wantIDs := []string{"n0"}
		switch {
		case slices.Contains(old, u):
			wantIDs = []string{"a0", "a1", "n0"}
		case slices.Contains(fresh, u):
			wantIDs = []string{"b0", "n0"}
		}
		if u == "ann" || u == "bob" || u == "eve" {
			wantIDs = append(wantIDs, "n1")
		}
		unread := len(wantIDs)
		if u == "ann" {
			unread--
		}
		for _, s := range []*redisstore.Store{v1, v2} {
			p, err := s.List(ctx, u, store.ListQuery{Limit: 10})
			if err != nil {
				t.Fatalf("List(%s): %v", u, err)
			}
			var ids []string
			for i := len(p.Entries) - 1; i >= 0; i-- {
				ids = append(ids, p.Entries[i].Notification.ID)
			}
			if !slices.Equal(ids, wantIDs) || p.Last != notify.Cursor(len(wantIDs)) || p.Counts.Unread != unread {
				t.Fatalf("List(%s): %v, last %d, %d unread; want %v, %d, %d", u, ids, p.Last, p.Counts.Unread, wantIDs, len(wantIDs), unread)
			}
		}
		// Every inbox is in v2 now: no state hash or ID index.
		k := redisstore.UserKeys(v1, string(u))
		if n, err := base.Client.Exists(ctx, k[1]).Result(); err != nil || n != 0 {
			t.Fatalf("%s: state hash left (%d, %v)", u, n, err)
		}
		if n, err := base.Client.Exists(ctx, k[3]).Result(); err != nil || n != 0 {
			t.Fatalf("%s: ID index left (%d, %v)", u, n, err)
		}
	}
}
