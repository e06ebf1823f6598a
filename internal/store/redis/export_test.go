package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// OpenTest opens a store on TestAddr under a prefix of its own, and at
// cleanup closes it, deletes the prefix's keys and fails t if a command
// touched keys of two hash slots. A Redis that does not answer stops t as
// testenv.NeedRedis does.
func OpenTest(t testing.TB, opts Options) *Store {
	t.Helper()
	rdb := testenv.NeedRedis(t, TestAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	slots := &slotCheck{}
	rdb.AddHook(slots)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	opts.Client = rdb
	opts.Prefix = "herald-test-" + hex.EncodeToString(b) + ":"
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		for _, v := range slots.errors() {
			t.Errorf("cross-slot command: %s", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, opts.Prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup scan: %v", err)
		}
		for from := 0; from < len(keys); from += 1000 {
			if err := rdb.Unlink(ctx, keys[from:min(from+1000, len(keys))]...).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		_ = rdb.Close()
	})
	return s
}

// SetAfterAppend makes every group stop between its entries and its
// idempotency records with f's error, as a crash there would.
func SetAfterAppend(s *Store, f func() error) { s.afterAppend = f }

// UserKeys lists the keys of one user.
func UserKeys(s *Store, user string) []string {
	k := s.userKeys(notify.UserID(user))
	return []string{k.meta, k.state, k.entries, k.ids, k.expiring, k.topics, k.prefs}
}

// slotCheck is a go-redis hook that records every command whose keys
// lie in more than one Redis Cluster hash slot: the scripts (EVAL and
// EVALSHA name their keys) and transactions (MULTI…EXEC).
type slotCheck struct {
	mu  sync.Mutex
	bad []string
}

func (c *slotCheck) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

func (c *slotCheck) report(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, v)
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
				c.report(fmt.Sprintf("%s with keys %q", name, keys))
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
		c.report(fmt.Sprintf("transaction on keys %q", txKeys))
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
