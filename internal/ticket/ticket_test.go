package ticket_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/ticket"
)

// tickets is what both kinds offer.
type tickets interface {
	Issue(ctx context.Context, c auth.Claims) (string, time.Duration, error)
	Redeem(ctx context.Context, t string) (auth.Claims, bool, error)
}

// clock is a hand-moved clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// hashKey is where a ticket's record lives in Redis under prefix: its hash,
// never the ticket.
func hashKey(prefix, t string) string {
	h := sha256.Sum256([]byte(t))
	return prefix + "ticket:" + hex.EncodeToString(h[:])
}

// contract runs what every kind of ticket store must do. issuer and
// redeemer may be two nodes' views of one store; now is their clock.
func contract(t *testing.T, issuer, redeemer tickets, now func() time.Time) {
	ctx := t.Context()
	alice := auth.Claims{User: "alice", Expiry: now().Add(time.Hour), Channels: []string{"rooms/*"}}
	bob := auth.Claims{User: "bob", Expiry: now().Add(time.Hour)}

	t.Run("single use, bound to its user", func(t *testing.T) {
		ta, ttl, err := issuer.Issue(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if ttl != 30*time.Second {
			t.Errorf("ttl = %v, want 30s", ttl)
		}
		if len(ta) < 22 || strings.Count(ta, ".") == 2 {
			t.Errorf("ticket %q: want at least 128 bits, not a JWT", ta)
		}
		tb, _, err := issuer.Issue(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		if ta == tb {
			t.Fatal("two tickets are equal")
		}
		got, ok, err := redeemer.Redeem(ctx, ta)
		if err != nil || !ok {
			t.Fatalf("Redeem = %v, %v; want ok", ok, err)
		}
		if got.User != "alice" || !reflect.DeepEqual(got.Channels, alice.Channels) || !got.Expiry.Equal(alice.Expiry.Truncate(time.Millisecond)) {
			t.Errorf("claims = %+v, want %+v", got, alice)
		}
		if _, ok, err := redeemer.Redeem(ctx, ta); ok || err != nil {
			t.Errorf("second Redeem = %v, %v; want refused", ok, err)
		}
		if _, ok, _ := issuer.Redeem(ctx, ta); ok {
			t.Error("the issuer redeemed a used ticket")
		}
		got, ok, err = redeemer.Redeem(ctx, tb)
		if err != nil || !ok || got.User != "bob" || got.Channels != nil {
			t.Errorf("bob's ticket: %+v, %v, %v", got, ok, err)
		}
	})
	t.Run("unknown and malformed", func(t *testing.T) {
		for _, s := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("!", 43), strings.Repeat("A", 44)} {
			if _, ok, err := redeemer.Redeem(ctx, s); ok || err != nil {
				t.Errorf("Redeem(%q) = %v, %v; want refused", s, ok, err)
			}
		}
	})
	t.Run("lives no longer than its token", func(t *testing.T) {
		c := auth.Claims{User: "carol", Expiry: now().Add(5 * time.Second)}
		if _, ttl, err := issuer.Issue(ctx, c); err != nil || ttl != 5*time.Second {
			t.Errorf("Issue = %v, %v; want 5s", ttl, err)
		}
		c.Expiry = now()
		if _, _, err := issuer.Issue(ctx, c); !errors.Is(err, ticket.ErrTokenExpired) {
			t.Errorf("Issue with an expired token: %v, want ErrTokenExpired", err)
		}
	})
}

func TestMemory(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := ticket.NewMemory(ticket.MemoryOptions{Options: ticket.Options{Now: clk.Now}})
	contract(t, m, m, clk.Now)
}

func TestMemoryExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	m := ticket.NewMemory(ticket.MemoryOptions{Options: ticket.Options{TTL: 10 * time.Second, Now: clk.Now}})
	alice := auth.Claims{User: "alice"}
	early, _, _ := m.Issue(ctx, alice)
	clk.Add(5 * time.Second)
	late, _, _ := m.Issue(ctx, alice)
	clk.Add(5*time.Second - time.Nanosecond)
	if _, ok, _ := m.Redeem(ctx, early); !ok {
		t.Fatal("a ticket was refused just before its expiry")
	}
	early2, _, _ := m.Issue(ctx, alice)
	clk.Add(time.Nanosecond) // early2 at 10s-1ns, late at 5s
	clk.Add(5 * time.Second)
	if _, ok, _ := m.Redeem(ctx, late); ok {
		t.Error("a ticket was redeemed at its expiry")
	}
	if _, ok, _ := m.Redeem(ctx, early2); !ok {
		t.Error("a ticket issued later was refused before its expiry")
	}
	clk.Add(time.Hour)
	if n := m.Len(); n != 0 {
		t.Errorf("Len = %d an hour later, want 0: expired tickets stay", n)
	}

	// A ticket whose token expires first dies with the token, though the
	// queue drops it only a TTL after issue.
	short, ttl, _ := m.Issue(ctx, auth.Claims{User: "bob", Expiry: clk.Now().Add(time.Second)})
	if ttl != time.Second {
		t.Errorf("ttl = %v, want 1s", ttl)
	}
	clk.Add(time.Second)
	if _, ok, _ := m.Redeem(ctx, short); ok {
		t.Error("a ticket outlived its token")
	}
}

func TestMemoryBound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := newClock()
	const bound = 100
	m := ticket.NewMemory(ticket.MemoryOptions{Options: ticket.Options{TTL: 10 * time.Second, Now: clk.Now}, MaxOutstanding: bound})
	var first string
	for i := range bound {
		tk, _, err := m.Issue(ctx, auth.Claims{User: "alice"})
		if err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
		if i == 0 {
			first = tk
		}
		clk.Add(time.Millisecond)
	}
	if _, _, err := m.Issue(ctx, auth.Claims{User: "alice"}); !errors.Is(err, ticket.ErrFull) {
		t.Fatalf("ticket %d: %v, want ErrFull", bound+1, err)
	}
	// Redeeming does not make room (the bound counts what was issued within
	// a TTL), and tickets issued keep working.
	if _, ok, _ := m.Redeem(ctx, first); !ok {
		t.Error("the first ticket was refused")
	}
	if _, _, err := m.Issue(ctx, auth.Claims{User: "alice"}); !errors.Is(err, ticket.ErrFull) {
		t.Errorf("after a redeem: %v, want ErrFull", err)
	}
	// Once the oldest expire, there is room again.
	clk.Add(10*time.Second - bound*time.Millisecond)
	if _, _, err := m.Issue(ctx, auth.Claims{User: "alice"}); err != nil {
		t.Errorf("after the first expired: %v", err)
	}
	if n := m.Len(); n != bound {
		t.Errorf("Len = %d, want %d", n, bound)
	}
}
