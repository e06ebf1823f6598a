package resume

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
)

// Source is the ordered sequences a stream is made of, each under its key:
// a user's inbox under the user ID, a channel's events under the channel's
// Key. Each has a live feed and a store to replay from by position.
// Positions are opaque to the engine except for their order; each sequence
// numbers its own, so that a stream merges several (the inbox and the
// channels it listens to), each resumed from its own position.
type Source interface {
	// Subscribe starts one live feed of the entries of key and of each of
	// more; entries committed from when the feed is live on are queued, at
	// most queue of them, in order per key.
	Subscribe(key notify.UserID, more []notify.UserID, queue int) Feed
	// Read returns up to limit entries of key after the position, oldest
	// first, or notify.ErrCursorExpired if some of them are gone (or the
	// position is ahead of the sequence).
	Read(ctx context.Context, key notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	// Last returns the newest position of key's entries.
	Last(ctx context.Context, key notify.UserID) (notify.Cursor, error)
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

// ChannelStore is the read side of the channels' histories; store.Store
// implements it.
type ChannelStore interface {
	ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error)
	ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error)
}

// Subscriber hands out live subscriptions; *hub.Hub implements it.
type Subscriber interface {
	SubscribeAll(key notify.UserID, more []notify.UserID, queueSize int) *hub.Subscription
}

// Stored is the Source of a node: the stores for replay, the hub for live
// entries. Channels may be nil where no stream listens to channels.
type Stored struct {
	Store    Store
	Channels ChannelStore
	Hub      Subscriber
}

// errNoChannels is a channel read where the source has no channel store.
var errNoChannels = errors.New("resume: no channel store")

// Subscribe implements Source.
func (st Stored) Subscribe(key notify.UserID, more []notify.UserID, queue int) Feed {
	return st.Hub.SubscribeAll(key, more, queue)
}

// Read implements Source.
func (st Stored) Read(ctx context.Context, key notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
	if ch, ok := notify.ChannelOf(key); ok {
		if st.Channels == nil {
			return nil, errNoChannels
		}
		return st.Channels.ChannelRead(ctx, ch, after, limit)
	}
	return st.Store.Read(ctx, key, after, limit)
}

// Last implements Source.
func (st Stored) Last(ctx context.Context, key notify.UserID) (notify.Cursor, error) {
	if ch, ok := notify.ChannelOf(key); ok {
		if st.Channels == nil {
			return 0, errNoChannels
		}
		return st.Channels.ChannelLast(ctx, ch)
	}
	return st.Store.Last(ctx, key)
}
