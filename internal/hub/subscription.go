package hub

import (
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/internal/notify"
)

// Subscription is one live connection of a user. Its owner waits on Ready,
// takes the queued entries with Take, and watches Done.
//
// The queue is a slice that grows as entries arrive, up to its limit, rather
// than a channel of the limit's size: most connections are idle, and a
// channel of 256 pointers cost every one of them 2 KB.
type Subscription struct {
	hub   *Hub
	shard *shard
	user  notify.UserID
	// more are the further keys of a subscription to several (a user and
	// channels): their entries share the one queue.
	more []member
	done chan struct{}
	// ready holds a token while the queue has entries the owner has not
	// been told of: offer sends one when the queue goes from empty to not.
	ready chan struct{}

	mu     sync.Mutex
	queued []*notify.Entry
	limit  int

	// err is written once, by whoever wins the finished flag, before done
	// closes; Err reads it only after done is closed.
	finished atomic.Bool
	err      error
}

// member is one further key of a subscription, and its shard.
type member struct {
	key   notify.UserID
	shard *shard
}

// User returns the subscribed user.
func (s *Subscription) User() notify.UserID { return s.user }

// Ready receives when entries may be queued; the owner then calls Take. It
// is never closed, so a reader selects on Done as well.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the queued entries, oldest first, and empties the queue. It
// keeps spare, cleared, as the next queue, so that a reader handing back
// the previous batch allocates nothing: the caller must not use spare
// afterwards. Entries point into slices the publisher no longer changes.
func (s *Subscription) Take(spare []*notify.Entry) []*notify.Entry {
	clear(spare)
	if cap(spare) > maxSpare {
		spare = nil // let a burst's buffer go
	}
	s.mu.Lock()
	out := s.queued
	s.queued = spare[:0]
	s.mu.Unlock()
	return out
}

// maxSpare bounds the buffer a subscription keeps between bursts.
const maxSpare = 64

// offer queues e, and reports false, queuing nothing, when the queue holds
// limit entries already.
func (s *Subscription) offer(e *notify.Entry) bool {
	s.mu.Lock()
	n := len(s.queued)
	if n >= s.limit {
		s.mu.Unlock()
		return false
	}
	s.queued = append(s.queued, e)
	s.mu.Unlock()
	if n == 0 {
		select {
		case s.ready <- struct{}{}:
		default: // a token is already waiting
		}
	}
	return true
}

// Done is closed when the subscription ends: the hub evicted it because its
// queue overflowed, the hub closed, or Close was called.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why Done is closed: ErrSlowConsumer, notify.ErrClosed (hub closed
// or Close called). It is nil while the subscription is live.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close unregisters the subscription. It is idempotent and safe to call
// concurrently with Publish.
func (s *Subscription) Close() {
	removed, last := s.shard.remove(s, s.user)
	if removed {
		s.hub.metrics.connections.Dec()
	}
	s.finish(notify.ErrClosed)
	if last && s.hub.onLast != nil {
		s.hub.onLast(s.user)
	}
	for _, m := range s.more {
		if _, last := m.shard.remove(s, m.key); last && s.hub.onLast != nil {
			s.hub.onLast(m.key)
		}
	}
}

func (s *Subscription) active() bool { return !s.finished.Load() }

// finish records err and closes done, once; it reports whether this call did.
func (s *Subscription) finish(err error) bool {
	if !s.finished.CompareAndSwap(false, true) {
		return false
	}
	s.err = err
	close(s.done)
	return true
}
