package store

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Defaults of a channel's capped history.
const (
	DefaultChannelHistory    = 100
	DefaultChannelHistoryAge = 24 * time.Hour
)

// Channels keep each channel's capped history: the newest events, at most
// a count of them and none older than an age. A channel event is a
// notify.Entry whose User is the channel's Key and whose Cursor is the
// event's offset in the channel, so that it reaches the commit hook, the hub
// and the bus the way an inbox entry does.
//
// Offsets of a channel increase strictly, also across the channel's history
// emptying by age and starting anew: a new history's first offset is at
// least the Unix time in milliseconds times 1024 and above any offset the
// store still knows of, so that a listener holding an old offset is never
// handed a new event under it.
type Channels interface {
	// Publish appends n to the history of each channel, once per channel,
	// and returns the offsets in the order of channels once they are
	// durable (with WAIT replicas, as Append). A channel whose retained
	// history already holds n.ID is not appended to again and its offset
	// is returned: a sender's retry stores nothing twice. New events go to
	// the commit hook, in offset order per channel.
	Publish(ctx context.Context, n *notify.Notification, channels []notify.Channel) ([]notify.Cursor, error)
	// ChannelRead returns up to limit events of ch with an offset greater
	// than after, oldest first, leaving out expired notifications. If
	// events after `after` are gone (trimmed by count or older than the
	// age), or after is beyond the newest offset, it returns
	// notify.ErrCursorExpired.
	ChannelRead(ctx context.Context, ch notify.Channel, after notify.Cursor, limit int) ([]notify.Entry, error)
	// ChannelHistory returns up to limit of ch's oldest retained events,
	// oldest first, leaving out expired notifications: where a page that
	// draws a channel's history starts.
	ChannelHistory(ctx context.Context, ch notify.Channel, limit int) ([]notify.Entry, error)
	// ChannelLast returns ch's newest offset, 0 for a channel without
	// history.
	ChannelLast(ctx context.Context, ch notify.Channel) (notify.Cursor, error)
}
