package ticket

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// DefaultMaxOutstanding bounds Memory when MemoryOptions.MaxOutstanding is
// zero: at the default TTL, 3,300 tickets a second, more streams than one
// node opens.
const DefaultMaxOutstanding = 100_000

// ErrFull says that Memory holds as many tickets as it may: no more are
// issued until the oldest expire, within one TTL.
var ErrFull = errors.New("ticket: too many tickets outstanding; retry shortly")

// MemoryOptions configure Memory.
type MemoryOptions struct {
	Options
	// MaxOutstanding bounds the tickets issued within the last TTL, used
	// or not (default DefaultMaxOutstanding); Issue fails with ErrFull
	// beyond it. The bound keeps a flood of ticket requests from growing
	// the node's memory: each ticket costs about 200 bytes.
	MaxOutstanding int
}

// Memory keeps tickets on this node, for the embedded store: a ticket is
// good on the node that issued it only.
type Memory struct {
	o MemoryOptions

	mu   sync.Mutex
	live map[[sha256.Size]byte]held
	// order is the hashes in the order they were issued, which is the
	// order of issue+TTL: Issue and Redeem drop those past it from the
	// front, so that tickets never redeemed do not stay. order[head:] is
	// the queue.
	order []issued
	head  int
}

type held struct {
	claims  auth.Claims
	expires time.Time
}

type issued struct {
	hash  [sha256.Size]byte
	until time.Time // issue time + TTL: when it is dropped at the latest
}

// NewMemory returns an empty Memory.
func NewMemory(o MemoryOptions) *Memory {
	o.setDefaults()
	if o.MaxOutstanding <= 0 {
		o.MaxOutstanding = DefaultMaxOutstanding
	}
	return &Memory{o: o, live: make(map[[sha256.Size]byte]held)}
}

// Issue returns a new ticket for c and how long it lives.
func (m *Memory) Issue(_ context.Context, c auth.Claims) (string, time.Duration, error) {
	now := m.o.Now()
	ttl, err := m.o.lifetime(c, now)
	if err != nil {
		return "", 0, err
	}
	t, h := newTicket()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	if len(m.order)-m.head >= m.o.MaxOutstanding {
		return "", 0, ErrFull
	}
	m.live[h] = held{claims: c, expires: now.Add(ttl)}
	m.order = append(m.order, issued{hash: h, until: now.Add(m.o.TTL)})
	return t, ttl, nil
}

// Redeem returns the claims of ticket t and removes it; ok is false when t
// is unknown, used or expired.
func (m *Memory) Redeem(_ context.Context, t string) (auth.Claims, bool, error) {
	h, ok := hashOf(t)
	if !ok {
		return auth.Claims{}, false, nil
	}
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	e, ok := m.live[h]
	if !ok {
		return auth.Claims{}, false, nil
	}
	delete(m.live, h)
	if !now.Before(e.expires) {
		return auth.Claims{}, false, nil
	}
	return e.claims, true, nil
}

// Len returns how many tickets are outstanding (issued within the last
// TTL, used or not).
func (m *Memory) Len() int {
	now := m.o.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	return len(m.order) - m.head
}

// prune drops the tickets issued a TTL or more before now. The caller holds
// mu.
func (m *Memory) prune(now time.Time) {
	for m.head < len(m.order) && !now.Before(m.order[m.head].until) {
		delete(m.live, m.order[m.head].hash)
		m.order[m.head] = issued{}
		m.head++
	}
	// Move the queue to the front once half the slice is spent, so that
	// it reuses its array instead of growing.
	if m.head > 0 && m.head >= len(m.order)/2 {
		n := copy(m.order, m.order[m.head:])
		clear(m.order[n:])
		m.order = m.order[:n]
		m.head = 0
	}
}
