package resume

import (
	"context"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// Source is one ordered sequence of a user's entries: a live feed, and a
// store to replay from by position. Positions are opaque to the engine
// except for their order; each source numbers its own, so that several
// sources (the inbox now, broadcast channels with their own offsets later)
// can be merged into one stream, each resumed from its own position.
type Source interface {
	// Subscribe starts the live feed of user's entries; entries committed
	// from when the feed is live on are queued, at most queue of them.
	Subscribe(user notify.UserID, queue int) Feed
	// Read returns up to limit entries of user after the position, oldest
	// first, or notify.ErrCursorExpired if some of them are gone (or the
	// position is ahead of the source).
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	// Last returns the newest position of user's entries.
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
}

// Feed is a live subscription; *hub.Subscription implements it.
type Feed interface {
	// Ready is signalled when entries are queued.
	Ready() <-chan struct{}
	// Take appends the queued entries to buf[:0] and returns it.
	Take(buf []*notify.Entry) []*notify.Entry
	// Done is closed when the feed ends: Close, or eviction (Err says why).
	Done() <-chan struct{}
	Err() error
	// Close ends the feed; it may be called more than once, from any
	// goroutine.
	Close()
}

// Store is the read side of the inbox store; store.Store implements it.
type Store interface {
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
}

// Subscriber hands out live subscriptions; *hub.Hub implements it.
type Subscriber interface {
	Subscribe(user notify.UserID, queueSize int) *hub.Subscription
}

// Inbox is the user's inbox as a Source: the store for replay, the hub for
// live entries. Its positions are inbox cursors.
type Inbox struct {
	Store Store
	Hub   Subscriber
}

// Subscribe implements Source.
func (in Inbox) Subscribe(user notify.UserID, queue int) Feed { return in.Hub.Subscribe(user, queue) }

// Read implements Source.
func (in Inbox) Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	return in.Store.Read(ctx, user, after, limit)
}

// Last implements Source.
func (in Inbox) Last(ctx context.Context, user notify.UserID) (notify.Cursor, error) {
	return in.Store.Last(ctx, user)
}
