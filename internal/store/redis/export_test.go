package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/testenv"
)

// TestAddr is the Redis the tests use (testenv.RedisAddr); CI starts one.
var TestAddr = testenv.RedisAddr()

// OpenTest opens a store under a prefix of its own, and at cleanup closes
// it, deletes the prefix's keys and fails t if a command touched keys of
// two hash slots. The store is on opts.Client when set, which the caller
// owns and may share between tests (a cluster or a failover client, say);
// else on TestAddr, where a Redis that does not answer stops t as
// testenv.NeedRedis does.
func OpenTest(t testing.TB, opts Options) *Store {
	t.Helper()
	rdb := opts.Client
	var slots *slotCheck
	if rdb == nil {
		c := testenv.NeedRedis(t, TestAddr)
		rdb, opts.Client = c, c
		slots = &slotCheck{}
		rdb.AddHook(slots)
	} else {
		slots = sharedSlotCheck(rdb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	opts.Prefix = "herald-test-" + hex.EncodeToString(b) + ":"
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		for _, v := range slots.errorsUnder(opts.Prefix) {
			t.Errorf("cross-slot command: %s", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := deletePrefix(ctx, rdb, opts.Prefix); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

// deletePrefix deletes the keys under prefix: on each master of a
// cluster, one key per command since they lie in many slots.
func deletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	if c, ok := rdb.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			keys, err := scanPrefix(ctx, node, prefix)
			if err != nil {
				return err
			}
			pipe := node.Pipeline()
			for _, k := range keys {
				pipe.Unlink(ctx, k)
			}
			_, err = pipe.Exec(ctx)
			return err
		})
	}
	keys, err := scanPrefix(ctx, rdb, prefix)
	if err != nil {
		return err
	}
	for from := 0; from < len(keys); from += 1000 {
		if err := rdb.Unlink(ctx, keys[from:min(from+1000, len(keys))]...).Err(); err != nil {
			return err
		}
	}
	return nil
}

func scanPrefix(ctx context.Context, rdb redis.Cmdable, prefix string) ([]string, error) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("scan %s*: %w", prefix, err)
	}
	return keys, nil
}

// SetAfterAppend makes every group stop between its entries and its
// idempotency records with f's error, as a crash there would.
func SetAfterAppend(s *Store, f func() error) { s.afterAppend = f }

// UserKeys lists the keys of one user.
func UserKeys(s *Store, user string) []string {
	k := s.userKeys(notify.UserID(user))
	return []string{k.meta, k.state, k.entries, k.ids, k.expiring, k.topics, k.prefs}
}

// slotChecks holds the one slotCheck hooked to each client OpenTest was
// given: tests that share a client share its hook, and each reports what
// touched keys under its own prefix.
var slotChecks sync.Map // redis.UniversalClient → *slotCheck

func sharedSlotCheck(rdb redis.UniversalClient) *slotCheck {
	c, loaded := slotChecks.LoadOrStore(rdb, &slotCheck{})
	if !loaded {
		rdb.AddHook(c.(*slotCheck))
	}
	return c.(*slotCheck)
}

// slotCheck is a go-redis hook that records every command whose keys
// lie in more than one Redis Cluster hash slot: the scripts (EVAL and
// EVALSHA name their keys) and transactions (MULTI…EXEC).
type slotCheck struct {
	mu  sync.Mutex
	bad []violation
}

type violation struct {
	what string
	keys []string
}

func (c *slotCheck) errors() []string { return c.errorsUnder("") }

// errorsUnder returns the violations with a key under prefix.
func (c *slotCheck) errorsUnder(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, v := range c.bad {
		if slices.ContainsFunc(v.keys, func(k string) bool { return strings.HasPrefix(k, prefix) }) {
			out = append(out, fmt.Sprintf("%s %q", v.what, v.keys))
		}
	}
	return out
}

func (c *slotCheck) report(what string, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, violation{what, keys})
}

func (c *slotCheck) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *slotCheck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.check([]redis.Cmder{cmd}, false)
		return next(ctx, cmd)
	}
}

func (c *slotCheck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		tx := len(cmds) > 0 && cmds[0].Name() == "multi"
		c.check(cmds, tx)
		return next(ctx, cmds)
	}
}

// check reports a script with keys of two slots, or, in a transaction,
// commands on keys of two slots. Only single-key commands run outside
// scripts and transactions, which the store's code keeps to.
func (c *slotCheck) check(cmds []redis.Cmder, tx bool) {
	var txKeys []string
	for _, cmd := range cmds {
		args := cmd.Args()
		switch name := cmd.Name(); name {
		case "eval", "evalsha", "eval_ro", "evalsha_ro":
			n, _ := strconv.Atoi(fmt.Sprint(args[2]))
			keys := make([]string, 0, n)
			for _, k := range args[3 : 3+n] {
				keys = append(keys, fmt.Sprint(k))
			}
			if !sameSlot(keys) {
				c.report(name+" with keys", keys)
			}
			txKeys = append(txKeys, keys...)
		case "multi", "exec":
		default:
			if len(args) > 1 {
				txKeys = append(txKeys, fmt.Sprint(args[1]))
			}
		}
	}
	if tx && !sameSlot(txKeys) {
		c.report("transaction on keys", txKeys)
	}
}

func sameSlot(keys []string) bool {
	for _, k := range keys {
		if Slot(k) != Slot(keys[0]) {
			return false
		}
	}
	return true
}

// Slot is a key's Redis Cluster hash slot: CRC16 (XMODEM) of its hash tag
// (the part between the first '{' and the next '}', if not empty) or of
// the whole key, modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// ChannelKeys lists the keys of one channel.
func ChannelKeys(s *Store, ch notify.Channel) []string { return s.chanKeys(ch).all() }

// Reopen opens another store on s's Redis and prefix, in another layout,
// as a node of the other mode during a rollout; t's cleanup closes it.
func Reopen(t testing.TB, s *Store, layout Layout) *Store {
	t.Helper()
	opts := s.opts
	opts.Layout, opts.OnCommit = layout, nil
	o, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}
