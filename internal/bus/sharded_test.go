package bus_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redistest"
)

// usersOn returns n users whose slots the master addr serves.
func usersOn(t *testing.T, cc *redis.ClusterClient, addr string, n int) []notify.UserID {
	t.Helper()
	var out []notify.UserID
	for i := 0; len(out) < n && i < 10000; i++ {
		u := notify.UserID(fmt.Sprintf("user-%d", i))
		node, err := cc.MasterForKey(t.Context(), "{u:"+base64.RawURLEncoding.EncodeToString([]byte(u))+"}")
		if err != nil {
			t.Fatal(err)
		}
		if node.Options().Addr == addr {
			out = append(out, u)
		}
	}
	if len(out) < n {
		t.Fatalf("found %d users on %s, want %d", len(out), addr, n)
	}
	return out
}

// commandCalls is how often each master ran cmd (INFO commandstats).
func commandCalls(t *testing.T, cc *redis.ClusterClient, cmd string) map[string]int {
	t.Helper()
	calls := map[string]int{}
	var mu sync.Mutex // ForEachMaster runs f on every master at once
	err := cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
				var n int
				fmt.Sscanf(rest, "%d", &n)
				mu.Lock()
				calls[c.Options().Addr] = n
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return calls
}

// TestShardedPubSub: on Redis Cluster the bus uses sharded pub/sub. Each
// master has subscriptions for the users its slots hold and no others, a
// message reaches the node watching its user, and no classic PUBLISH or
// SUBSCRIBE is sent. After the master of some users is killed, the bus
// subscribes them again on the promoted replica and messages flow again.
func TestShardedPubSub(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	p := prefix()
	watcher, sender := c.Client(t), c.Client(t)
	got := make(sink, 64)
	a := newBus(t, watcher, p, got, nil)
	asked := make(chan notify.UserID, 16)
	a.RecoverWith(func(_ context.Context, u notify.UserID) ([]notify.Entry, error) {
		asked <- u
		return nil, nil // nothing stored: nothing to hand on
	})
	b := newBus(t, sender, p, make(sink, 64), nil)

	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("masters %v, want 3", masters)
	}
	own := map[string][]notify.UserID{}
	var all []notify.UserID
	for _, m := range masters {
		own[m] = usersOn(t, watcher, m, 2)
		all = append(all, own[m]...)
	}
	for _, u := range all {
		a.Watch(u)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, u := range all {
		if err := a.WaitLive(ctx, u); err != nil {
			t.Fatalf("WaitLive(%s): %v", u, err)
		}
	}

	// Each master holds exactly its own users' channels.
	for _, m := range masters {
		node := redis.NewClient(&redis.Options{Addr: m})
		chans, err := node.PubSubShardChannels(t.Context(), p+"*").Result()
		classic, cerr := node.PubSubChannels(t.Context(), p+"*").Result()
		node.Close()
		if err != nil || cerr != nil {
			t.Fatalf("PUBSUB on %s: %v, %v", m, err, cerr)
		}
		var want []string
		for _, u := range own[m] {
			want = append(want, p+"bus:{u:"+base64.RawURLEncoding.EncodeToString([]byte(u))+"}")
		}
		slices.Sort(chans)
		slices.Sort(want)
		if !slices.Equal(chans, want) || len(classic) != 0 {
			t.Errorf("%s: shard channels %v, classic %v; want shard channels %v only", m, chans, classic, want)
		}
	}

	for i, u := range all {
		b.Publish([]notify.Entry{entry(u, notify.Cursor(i+1))})
	}
	seen := map[notify.UserID]bool{}
	for range all {
		for _, e := range got.next(t) {
			seen[e.User] = true
		}
	}
	if len(seen) != len(all) {
		t.Errorf("received entries of %d users, want %d", len(seen), len(all))
	}
	if n := commandCalls(t, watcher, "publish"); len(n) != 0 {
		t.Errorf("PUBLISH calls by master: %v, want none in cluster mode", n)
	}
	if n := commandCalls(t, watcher, "spublish"); len(n) == 0 {
		t.Error("no SPUBLISH reached any master")
	}

	// Failover: the master of own[victim] dies; its replica takes over.
	victim := masters[0]
	start := time.Now()
	c.Kill(t, victim)
	u := own[victim][0]
	deadline := time.Now().Add(30 * time.Second)
	for cur := notify.Cursor(100); ; cur++ {
		if time.Now().After(deadline) {
			t.Fatalf("no entry of %s within 30s of its master's death", u)
		}
		b.Publish([]notify.Entry{entry(u, cur)})
		select {
		case es := <-got:
			if es[0].User == u && es[0].Cursor >= 100 {
				t.Logf("%s's entries flow again %v after its master was killed", u, time.Since(start).Round(time.Millisecond))
				checkAsked(t, asked, own[victim])
				return
			}
		case <-time.After(200 * time.Millisecond): // one publish per round, bounded by deadline
		}
	}
}

// checkAsked waits until the bus asked for the newest entry of each of
// users (their subscriptions came back) and of no other user.
func checkAsked(t *testing.T, asked chan notify.UserID, users []notify.UserID) {
	t.Helper()
	got := map[notify.UserID]bool{}
	timeout := time.After(10 * time.Second)
	for len(got) < len(users) {
		select {
		case u := <-asked:
			if !slices.Contains(users, u) {
				t.Errorf("newest entry of %s asked for; its master did not fail", u)
			}
			got[u] = true
		case <-timeout:
			t.Fatalf("newest entries asked for %v, want %v", got, users)
		}
	}
}
