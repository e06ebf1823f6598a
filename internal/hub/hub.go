// Package hub keeps the live connections of this node, indexed by user, and
// hands every committed inbox entry to each of the user's connections.
//
// The hub is sharded by a hash of the user ID, so that publishing for one
// user and connections coming and going for another rarely meet on one lock.
// Delivery never blocks: each subscription has a bounded queue, and a
// subscription whose queue is full is evicted (its Done channel closes) rather
// than slowing the publisher or the user's other connections. An evicted
// client resumes later from its cursor, so nothing is lost.
package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"math/bits"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/internal/notify"
)

// ErrSlowConsumer is the reason of a subscription evicted because its queue
// was full when an entry arrived.
var ErrSlowConsumer = errors.New("hub: slow consumer, queue full")

// Defaults for zero Options and arguments.
const (
	DefaultShards    = 64
	DefaultQueueSize = 256
)

// Options configure a Hub. Zero values mean the documented defaults.
type Options struct {
	// Shards is the number of lock shards, rounded up to a power of two
	// (default DefaultShards).
	Shards int
	// Registerer receives the hub's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger logs evictions at debug level; nil discards.
	Logger *slog.Logger
	// OnFirst and OnLast, when set, are called when a user gets their first
	// subscription on this hub and when their last one goes, so that a
	// cluster bus listens only for users with a live connection here. They
	// run outside the shard locks but on the caller's goroutine (Subscribe,
	// Close, Publish evicting), so they must not block. Each OnFirst is
	// followed by exactly one OnLast for the same user, but calls for one
	// user may reach the hooks out of order when connections come and go
	// concurrently: a listener counts them rather than trusting the order.
	OnFirst, OnLast func(notify.UserID)
}

// Hub is the registry of live subscriptions by user. It is safe for
// concurrent use.
type Hub struct {
	seed    maphash.Seed
	mask    uint64
	shards  []shard
	metrics *metrics
	log     *slog.Logger
	onFirst func(notify.UserID)
	onLast  func(notify.UserID)
}

// New returns an empty hub.
func New(opts Options) *Hub {
	n := opts.Shards
	if n <= 0 {
		n = DefaultShards
	}
	n = 1 << bits.Len(uint(n-1)) // next power of two, so a mask picks the shard
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		seed:    maphash.MakeSeed(),
		mask:    uint64(n - 1),
		shards:  make([]shard, n),
		metrics: newMetrics(opts.Registerer, log),
		log:     log,
		onFirst: opts.OnFirst,
		onLast:  opts.OnLast,
	}
	for i := range h.shards {
		h.shards[i].users = make(map[notify.UserID][]*Subscription)
	}
	return h
}

func (h *Hub) shardOf(user notify.UserID) *shard {
	return &h.shards[maphash.String(h.seed, string(user))&h.mask]
}

// Subscribe registers a new connection of user with a queue of queueSize
// entries (DefaultQueueSize if queueSize <= 0). The caller must Close it. On
// a closed hub the subscription is returned already done, with
// notify.ErrClosed.
func (h *Hub) Subscribe(user notify.UserID, queueSize int) *Subscription {
	return h.SubscribeAll(user, nil, queueSize)
}

// SubscribeAll is Subscribe to the entries of user and of each of more
// (channels' keys, say) in one queue: entries arrive in order per key, and
// the keys' entries interleave as they were published. A key in more once
// only, and not user. The subscription counts as one connection, of user;
// OnFirst and OnLast are called for every key.
func (h *Hub) SubscribeAll(user notify.UserID, more []notify.UserID, queueSize int) *Subscription {
	if queueSize <= 0 {
		queueSize = DefaultQueueSize
	}
	s := &Subscription{
		user:  user,
		done:  make(chan struct{}),
		ready: make(chan struct{}, 1),
		limit: queueSize,
	}
	s.shard = h.shardOf(user)
	s.hub = h
	first, ok := s.shard.add(s, user)
	if !ok {
		s.finish(notify.ErrClosed)
		return s
	}
	h.metrics.connections.Inc()
	if first && h.onFirst != nil {
		h.onFirst(user)
	}
	if len(more) > 0 {
		s.more = make([]member, 0, len(more))
	}
	for _, key := range more {
		m := member{key: key, shard: h.shardOf(key)}
		first, ok := m.shard.add(s, key)
		if !ok {
			s.Close()
			return s
		}
		s.more = append(s.more, m)
		if first && h.onFirst != nil {
			h.onFirst(key)
		}
	}
	return s
}

// Publish hands entries, in cursor order per user, to the queues of their
// users' subscriptions. It never blocks: a subscription whose queue is full
// is evicted. It has the signature of store.CommitHook.
//
// Queues hold pointers into entries, not copies, so that a queued entry
// costs 8 bytes: the caller must not modify entries afterwards (the store
// hands every group a fresh slice).
func (h *Hub) Publish(entries []notify.Entry) {
	var delivered, evicted int
	for i := 0; i < len(entries); {
		sh := h.shardOf(entries[i].User)
		// Entries that fall in the same shard in a row share one lock round.
		j := i + 1
		for j < len(entries) && h.shardOf(entries[j].User) == sh {
			j++
		}
		d, e := sh.deliver(entries[i:j])
		delivered += d
		if e > 0 {
			evicted += e
			removed, gone := sh.sweep(entries[i:j])
			h.metrics.connections.Sub(float64(removed))
			h.lastOf(gone)
			if h.log.Enabled(context.Background(), slog.LevelDebug) {
				h.log.Debug("hub: evicted slow consumers", "user_id", string(entries[i].User), "evicted", e)
			}
		}
		i = j
	}
	h.metrics.published.Add(float64(len(entries)))
	if delivered > 0 {
		h.metrics.delivered.Add(float64(delivered))
	}
	if evicted > 0 {
		h.metrics.evictions.Add(float64(evicted))
	}
}

// Connections returns how many subscriptions are registered.
func (h *Hub) Connections() int {
	n := 0
	for i := range h.shards {
		n += h.shards[i].len()
	}
	return n
}

// Close ends every subscription with notify.ErrClosed and refuses new ones.
// It is idempotent.
func (h *Hub) Close() {
	for i := range h.shards {
		removed, gone := h.shards[i].close()
		h.metrics.connections.Sub(float64(removed))
		h.lastOf(gone)
	}
}

// lastOf calls the OnLast hook for each user whose last subscription went.
func (h *Hub) lastOf(users []notify.UserID) {
	if h.onLast == nil {
		return
	}
	for _, u := range users {
		h.onLast(u)
	}
}
