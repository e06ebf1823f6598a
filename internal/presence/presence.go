// Package presence tells whether users have a stream open and when they
// last had one.
//
// On one node Local keeps both: it counts the node's streams as they open
// and close, and remembers in memory when each user's last stream closed
// (lost when the process restarts). In cluster mode the stream leases that
// every node keeps in Redis answer instead (redislimit.Leases.Presence),
// so that a stream on any node counts.
package presence

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// State is one user's presence.
type State struct {
	User notify.UserID
	// Online: the user has at least one stream open.
	Online bool
	// LastSeen is when the user's last stream closed; zero when the user
	// has never been seen. Online states leave it to the caller (now).
	LastSeen time.Time
}

// Limiter admits a stream of a user and counts the user's open streams;
// limit.Streams implements it.
type Limiter interface {
	Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool)
	Open(user notify.UserID) int
}

// Local answers from the streams of this node. It is a Limiter itself,
// wrapping the one that bounds and counts the streams: a user is online
// while next counts a stream of theirs, and the release of each stream
// sets when the user was last seen. It is safe for concurrent use.
type Local struct {
	next Limiter
	now  func() time.Time

	mu   sync.Mutex
	seen map[notify.UserID]time.Time
}

// NewLocal returns presence over the streams next admits. now is the
// clock (nil: time.Now).
func NewLocal(next Limiter, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{next: next, now: now, seen: make(map[notify.UserID]time.Time)}
}

// Acquire admits a stream of user as next does; its release records the
// time, so that the last one to close leaves when the user was last seen.
func (l *Local) Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool) {
	inner, ok := l.next.Acquire(ctx, user)
	if !ok {
		return nil, false
	}
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		now := l.now()
		l.mu.Lock()
		l.seen[user] = now
		l.mu.Unlock()
		inner()
	}, true
}

// Open is next's count of user's streams.
func (l *Local) Open(user notify.UserID) int { return l.next.Open(user) }

// Presence returns the state of each of users, in their order. It never
// fails.
func (l *Local) Presence(_ context.Context, users []notify.UserID) ([]State, error) {
	out := make([]State, len(users))
	for i, u := range users {
		out[i] = State{User: u, Online: l.next.Open(u) > 0}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, u := range users {
		out[i].LastSeen = l.seen[u]
	}
	return out, nil
}
