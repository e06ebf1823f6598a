package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/testenv"
)

func TestSlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3 % 16384},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", Slot("user1000")},
		{"foo{}{bar}", Slot("foo{}{bar}")},
		{"foo{{bar}}zap", Slot("{bar")},
		{"foo{bar}{zap}", Slot("bar")},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
	if Slot("foo{}{bar}") == Slot("bar") {
		t.Error("an empty tag must hash the whole key")
	}
}

// TestUserKeysOneSlot: whatever a user ID holds, every key of the user
// shares one slot, so the per-user scripts work in Redis Cluster.
func TestUserKeysOneSlot(t *testing.T) {
	t.Parallel()
	s := &Store{opts: Options{Prefix: "p:"}.withDefaults()}
	for _, u := range []string{"", "a", "{", "}", "{}", "a{b}c", "}{", ":", "{u:x}", "u:{x}:s", "ü\x00\xff"} {
		keys := UserKeys(s, u)
		for _, k := range keys[1:] {
			if Slot(k) != Slot(keys[0]) {
				t.Errorf("user %q: %s in slot %d, %s in %d", u, keys[0], Slot(keys[0]), k, Slot(k))
			}
		}
	}
}

// TestSlotCheckCatches: the hook the contract tests rely on does report
// a script and a transaction on two slots.
func TestSlotCheckCatches(t *testing.T) {
	t.Parallel()
	rdb := testenv.NeedRedis(t, TestAddr)
	c := &slotCheck{}
	rdb.AddHook(c)
	ctx := t.Context()
	a, b := "herald-test-slots:{a}", "herald-test-slots:{b}"
	_ = rdb.Eval(ctx, "return 1", []string{a, b}).Err()
	tx := rdb.TxPipeline()
	tx.Get(ctx, a)
	tx.Get(ctx, b)
	_, _ = tx.Exec(ctx)
	if got := len(c.errors()); got != 2 {
		t.Errorf("slot check reported %d violations (%q), want 2", got, c.errors())
	}
}

// TestRunAllLoadsScripts: a script Redis has never seen runs through the
// EVAL fallback of a pipeline.
func TestRunAllLoadsScripts(t *testing.T) {
	t.Parallel()
	s := OpenTest(t, Options{})
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	fresh := redis.NewScript("return ARGV[1] .. '-" + hex.EncodeToString(b) + "'")
	calls := []*call{{script: fresh, args: []any{"x"}}, {script: fresh, args: []any{"y"}}}
	s.runAll(context.Background(), calls)
	for i, c := range calls {
		if c.err != nil {
			t.Fatalf("runAll: call %d: %v", i, c.err)
		}
	}
	if got := calls[1].cmd.Val(); got != "y-"+hex.EncodeToString(b) {
		t.Errorf("second call returned %v", got)
	}
}

// TestChannelKeysOneSlot: a channel's keys share one slot whatever its
// name, apart from any user's.
func TestChannelKeysOneSlot(t *testing.T) {
	t.Parallel()
	s := &Store{opts: Options{Prefix: "p:"}.withDefaults()}
	for _, ch := range []notify.Channel{"", "a", "{", "}", "rooms/{x}", "c:{y}:m", "ü\x00\xff"} {
		keys := ChannelKeys(s, ch)
		for _, k := range keys[1:] {
			if Slot(k) != Slot(keys[0]) {
				t.Errorf("channel %q: %s in slot %d, %s in %d", ch, keys[0], Slot(keys[0]), k, Slot(k))
			}
		}
	}
}
