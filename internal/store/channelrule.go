package store

import (
	"errors"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// ChannelEpoch is the least first offset of a channel history that starts
// at now: the Unix time in milliseconds times 1024. A history that emptied
// by age, perhaps with every record of it gone (a Redis key that expired,
// a swept channel), starts anew above every offset it handed out, as long
// as it took fewer than 1024 events per millisecond on average.
func ChannelEpoch(now time.Time) notify.Cursor {
	ms := max(now.UnixMilli(), 0)
	return notify.Cursor(ms) * 1024
}

// ChannelMissed reports whether a read of a channel after `after` would
// miss events, given the newest offset last, the highest offset gone
// (trimmed by count, or older than the age) and the first offset of the
// current history. Offsets below a history's first that are not gone
// never existed; after 0 is a listener that began on an empty channel,
// which misses nothing while the current history is whole (gone is
// first-1). A channel the store knows nothing of has all three 0.
func ChannelMissed(after, gone, first, last notify.Cursor) bool {
	if after > last {
		return true
	}
	return after < gone && (after != 0 || gone+1 != first)
}

// CheckPublish refuses what no backend can publish: a notification without
// an ID (the key of its dedupe), an empty channel name.
func CheckPublish(n *notify.Notification, channels []notify.Channel) error {
	if n == nil || n.ID == "" {
		return errors.New("store: publish: notification without ID")
	}
	if slices.Contains(channels, "") {
		return errors.New("store: publish: empty channel name")
	}
	return nil
}
