package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/redistest"
	"github.com/heraldhq/herald/internal/store"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
	"github.com/heraldhq/herald/internal/store/storetest"
)

func opener(opts redisstore.Options) storetest.Open {
	return func(t *testing.T, hook store.CommitHook) store.Store {
		opts := opts
		opts.OnCommit = hook
		return redisstore.OpenTest(t, opts)
	}
}

func channelOpener(opts redisstore.Options) storetest.OpenChannels {
	return func(t *testing.T, o storetest.ChannelOptions) store.Store {
		opts := opts
		opts.OnCommit, opts.ChannelHistory, opts.ChannelHistoryAge, opts.Now = o.Hook, o.History, o.Age, o.Now
		return redisstore.OpenTest(t, opts)
	}
}

func TestContract(t *testing.T) {
	t.Parallel()
	contract(t, redisstore.Options{})
}

// TestContractV1 keeps the contract in layout v1, which the rollout's
// first step runs; single Redis only, as the layouts share every command
// that the topologies treat apart.
func TestContractV1(t *testing.T) {
	t.Parallel()
	contract(t, redisstore.Options{Layout: redisstore.LayoutV1})
	t.Run("ConvertV1", func(t *testing.T) {
		t.Parallel()
		convertV1(t, redisstore.Options{})
	})
}

// TestContractCluster keeps the contract on a Redis Cluster of three
// masters and three replicas, which rejects what a single Redis lets pass:
// a script or transaction on keys of two slots, or a key on another node.
func TestContractCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	rdb := c.Client(t)
	t.Cleanup(func() {
		var left atomic.Int64
		err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
			n, err := node.DBSize(ctx).Result()
			left.Add(n)
			return err
		})
		noKeysLeft(t, left.Load(), err)
	})
	contract(t, redisstore.Options{Client: rdb})
	t.Run("ConvertV1", func(t *testing.T) {
		t.Parallel()
		convertV1(t, redisstore.Options{Client: rdb})
	})
}

// convertV1 writes inboxes in layout v1 and has a v2 store append to them,
// which converts them (reaching the v1 keys of the user's slot) on the
// master that holds each.
func convertV1(t *testing.T, base redisstore.Options) {
	base.Layout = redisstore.LayoutV1
	v1 := redisstore.OpenTest(t, base)
	v2 := redisstore.Reopen(t, v1, redisstore.LayoutV2)
	ctx := t.Context()
	users := []notify.UserID{"ann", "bob", "cid", "dee", "eve", "fay"}
	for i := range 2 {
		for _, s := range []*redisstore.Store{v1, v2} {
			n := &notify.Notification{ID: fmt.Sprintf("%d-%v", i, s == v2), Title: "t", CreateTime: time.Now()}
			d := store.Delivery{Notification: n}
			for _, u := range users {
				d.Recipients = append(d.Recipients, store.Recipient{User: u})
			}
			if _, err := s.Append(ctx, []store.Delivery{d}); err != nil {
				t.Fatalf("Append: %v", err)
			}
		}
	}
	for _, u := range users {
		if _, _, err := v1.Mark(ctx, u, store.Mark{Action: store.MarkRead, IDs: []string{"0-false"}}); err != nil {
			t.Fatalf("Mark: %v", err)
		}
		for _, s := range []*redisstore.Store{v1, v2} {
			p, err := s.List(ctx, u, store.ListQuery{Limit: 10})
			if err != nil || len(p.Entries) != 4 || p.Last != 4 || p.Counts != (notify.Counts{Unread: 3, Unseen: 3}) {
				t.Fatalf("List(%s): %d entries, last %d, counts %+v, %v; want 4, 4, 3 unread and unseen", u, len(p.Entries), p.Last, p.Counts, err)
			}
		}
	}
}

// TestContractSentinel keeps the contract through a failover client that
// asks three Sentinels for the master.
func TestContractSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	rdb := s.Client(t)
	t.Cleanup(func() {
		n, err := rdb.DBSize(context.Background()).Result()
		noKeysLeft(t, n, err)
	})
	contract(t, redisstore.Options{Client: rdb})
}

// noKeysLeft fails t when keys outlived the cleanups of its subtests, which
// run before t's own: each store's cleanup deletes its prefix's keys.
func noKeysLeft(t *testing.T, n int64, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("DBSIZE after the tests: %v", err)
	} else if n != 0 {
		t.Errorf("%d keys left after the tests' cleanups, want none", n)
	}
}

// contract runs the store contract suites on stores opened with base,
// each under a prefix of its own.
func contract(t *testing.T, base redisstore.Options) {
	open := opener(base)
	storetest.Run(t, open)
	storetest.RunInbox(t, open)
	storetest.RunParts(t, open)
	// Groups of one request at a time must keep the contract too.
	t.Run("MaxBatch=1", func(t *testing.T) {
		t.Parallel()
		opts := base
		opts.MaxBatch = 1
		storetest.Run(t, opener(opts))
	})
	retained := base
	retained.RetentionCount = 5
	storetest.RunRetention(t, 5, opener(retained))
	storetest.RunSubscriptions(t, open)
	storetest.RunPreferences(t, open)
	storetest.RunChannels(t, channelOpener(base))
	if base.Layout != redisstore.LayoutV1 {
		t.Run("ConvertInGroup", func(t *testing.T) {
			t.Parallel()
			convertInGroup(t, base)
		})
	}
	if base.Client != nil {
		// With replicas to wait for, every write ends with WAIT on its
		// master's connection (wait.go).
		t.Run("WaitReplicas=1", func(t *testing.T) {
			t.Parallel()
			opts := base
			opts.WaitReplicas = 1
			storetest.Run(t, opener(opts))
			storetest.RunInbox(t, opener(opts))
			storetest.RunChannels(t, channelOpener(opts))
			convertInGroup(t, opts)
		})
	}
}

// TestUnavailable: with Redis unreachable, calls fail with ErrUnavailable,
// so that ingest never acknowledges what was not stored.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := redisstore.Open(t.Context(), redisstore.Options{
		URL:    "redis://" + addr + "/0?max_retries=-1&dial_timeout=1s",
		Prefix: "herald-test-unavailable:",
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n := &notify.Notification{ID: "n1", Title: "x", IdempotencyKey: "svc/k"}
	_, err = s.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "u"}}}})
	if !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Append error = %v, want ErrUnavailable", err)
	}
	n.IdempotencyKey = ""
	_, err = s.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "u"}}}})
	if !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Append without a key: error = %v, want ErrUnavailable", err)
	}
	if err := s.Ready(ctx); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Ready error = %v, want ErrUnavailable", err)
	}
	if _, err := s.Read(ctx, "u", 0, 10); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Read error = %v, want ErrUnavailable", err)
	}
	if _, _, err := s.Mark(ctx, "u", store.Mark{Action: store.MarkRead, UpTo: 1}); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Mark error = %v, want ErrUnavailable", err)
	}
}

func TestOpenRejectsBracesInPrefix(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"a{b", "x}"} {
		if s, err := redisstore.Open(t.Context(), redisstore.Options{URL: "redis://127.0.0.1:1/0", Prefix: p}); err == nil {
			s.Close()
			t.Errorf("Open with prefix %q succeeded", p)
		}
	}
}

// TestClosed: after Close every call fails with ErrClosed, and Close
// again is harmless.
func TestClosed(t *testing.T) {
	t.Parallel()
	s := redisstore.OpenTest(t, redisstore.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := t.Context()
	errs := map[string]error{}
	_, errs["Read"] = s.Read(ctx, "u", 0, 1)
	_, errs["Last"] = s.Last(ctx, "u")
	_, errs["List"] = s.List(ctx, "u", store.ListQuery{Limit: 1})
	_, errs["Counts"] = s.Counts(ctx, "u")
	_, _, errs["Mark"] = s.Mark(ctx, "u", store.Mark{Action: store.MarkRead, UpTo: 1})
	_, errs["Subscribe"] = s.Subscribe(ctx, []notify.Topic{"t"}, []notify.UserID{"u"})
	_, errs["PreferencesOf"] = s.PreferencesOf(ctx, []notify.UserID{"u"})
	errs["Ready"] = s.Ready(ctx)
	for op, err := range errs {
		if !errors.Is(err, notify.ErrClosed) {
			t.Errorf("%s after Close: error = %v, want ErrClosed", op, err)
		}
	}
}
