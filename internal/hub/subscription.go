package hub

import (
	"sync/atomic"

	"github.com/heraldhq/herald/internal/notify"
)

// Subscription is one live connection of a user. Its owner reads Events and
// watches Done.
type Subscription struct {
	hub   *Hub
	shard *shard
	user  notify.UserID
	ch    chan *notify.Entry
	done  chan struct{}

	// err is written once, by whoever wins the finished flag, before done
	// closes; Err reads it only after done is closed.
	finished atomic.Bool
	err      error
}

// User returns the subscribed user.
func (s *Subscription) User() notify.UserID { return s.user }

// Events returns the queue of entries for this connection, in cursor order.
// It is never closed: publishers may still hold it while the subscription
// ends, so a reader selects on Done as well.
func (s *Subscription) Events() <-chan *notify.Entry { return s.ch }

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
	removed, last := s.shard.remove(s)
	if removed {
		s.hub.metrics.connections.Dec()
	}
	s.finish(notify.ErrClosed)
	if last && s.hub.onLast != nil {
		s.hub.onLast(s.user)
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
