// Package store defines the contract of Herald's durable inbox store. The
// backends live in store/embedded (local disk, one node) and store/redis
// (cluster mode); the shared contract tests in store/storetest keep them from
// drifting apart, and store/storemetrics gives both the same metrics.
package store

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/notify"
)

// Recipient is one user a notification reaches, and the topic through which
// it reached them (empty when addressed directly).
type Recipient struct {
	User  notify.UserID
	Topic notify.Topic
}

// Delivery is a notification with its resolved recipients, each user once.
type Delivery struct {
	Notification *notify.Notification
	Recipients   []Recipient
	// Part is set when the notification reaches too many users for one
	// append and is stored in several, its recipients in ascending user ID
	// order across the parts. The zero value is a whole delivery.
	Part Part
}

// Part places a delivery in a notification stored in several appends, so
// that a topic of 100,000 subscribers neither blocks other notifications
// for long nor sits in memory at once.
//
// The first part (Seq 0) writes the body and, with an idempotency key, the
// idempotency record, marked incomplete; each part records its last user;
// the Final part marks the record complete. A first part whose key has an
// incomplete record stores nothing and returns Result.ResumeAfter, so that
// a sender's retry after a crash resumes the fan-out under the first
// attempt's ID instead of starting over or stopping short; so does a whole
// delivery, the retry's audience having perhaps shrunk to one part. A
// first part whose key has a complete record is a Duplicate, as a whole
// delivery is.
//
// Later parts carry the first part's notification ID and are never
// duplicates. Without an idempotency key, parts just append entries.
// A part's Result.Recipients counts that part's entries; an Incomplete or
// Duplicate result's counts the entries all earlier parts stored, so a
// sender sums the parts' counts, starting from the Incomplete result's.
type Part struct {
	Seq   int  // 0 for the first part
	Multi bool // false: a whole delivery (the Seq and Final fields are ignored)
	Final bool // the last part
}

// Result says what an Append did with one delivery.
type Result struct {
	// ID is the notification's ID; for a duplicate, the first one's.
	ID string
	// Recipients is how many inbox entries exist for the notification.
	Recipients int
	// Duplicate is true when the idempotency key was seen within the window
	// and nothing new was stored.
	Duplicate bool
	// Conflict is true when the idempotency key was seen within the window
	// with another notification (its Notification.Fingerprint differs from
	// the record's): nothing was stored, and ID is the first one's. Only a
	// whole delivery or a first part can conflict.
	Conflict bool
	// Incomplete is set, with ResumeAfter, for a first Part whose key
	// belongs to a fan-out that stopped midway: nothing was stored, and the
	// caller goes on with recipients after ResumeAfter, as parts of ID.
	Incomplete  bool
	ResumeAfter notify.UserID
}

// Store is the whole contract a backend implements.
//
// Append stores one inbox entry per recipient of each delivery, atomically
// with the idempotency record, and returns only once they are durable. Each
// entry gets a per-user cursor that is strictly greater than every cursor the
// user had before. Entries become visible to Read, and are handed to the
// commit hook, in cursor order per user.
//
// Read returns up to limit entries of user with a cursor greater than after,
// oldest first, leaving out expired notifications. If retention removed
// entries after `after`, it returns notify.ErrCursorExpired. A cursor beyond
// the newest entry (from another store, say) is also ErrCursorExpired, so the
// client refetches instead of silently missing entries.
//
// Last returns the user's newest cursor (0 if the user has no entries yet).
//
// Channels keep the channels' capped histories (see Channels).
type Store interface {
	Append(ctx context.Context, ds []Delivery) ([]Result, error)
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
	Subscriptions
	Preferences
	Inbox
	Channels
	Close() error
}

// Subscriptions are who follows which topic. Both listings are in ascending
// order and paged by the last item of the previous page ("" for the first),
// so a page sequence is stable under concurrent changes: an item present for
// the whole listing appears exactly once.
type Subscriptions interface {
	// Subscribe subscribes every user to every topic and reports how many
	// pairs are new.
	Subscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (added int, err error)
	// Unsubscribe removes every pair and reports how many existed.
	Unsubscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (removed int, err error)
	// UserTopics returns up to limit of user's topics after `after`.
	UserTopics(ctx context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error)
	// TopicSubscribers returns up to limit of topic's users after `after`.
	TopicSubscribers(ctx context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error)
}

// UserPreferences are what a user muted, each list sorted and without
// repeats.
type UserPreferences struct {
	MutedTopics     []notify.Topic
	MutedCategories []string
}

// PreferenceChange mutes and unmutes; a name in both of a pair of lists is
// the caller's error to refuse.
type PreferenceChange struct {
	MuteTopics, UnmuteTopics         []notify.Topic
	MuteCategories, UnmuteCategories []string
}

// Preferences keep users' mutes.
type Preferences interface {
	// UserPreferences returns user's preferences (empty if none were set).
	UserPreferences(ctx context.Context, user notify.UserID) (UserPreferences, error)
	// UpdatePreferences applies change and returns the result.
	UpdatePreferences(ctx context.Context, user notify.UserID, change PreferenceChange) (UserPreferences, error)
	// PreferencesOf returns the preferences of each user, in the order
	// given, for routing a batch of recipients with one call.
	PreferencesOf(ctx context.Context, users []notify.UserID) ([]UserPreferences, error)
}

// ArchiveFilter selects entries by their archived state.
type ArchiveFilter int8

// Archive filters; the zero value lists entries not archived.
const (
	ArchiveExclude ArchiveFilter = iota
	ArchiveOnly
	ArchiveInclude
)

// ListQuery selects a page of an inbox, newest first.
type ListQuery struct {
	// Before is the cursor the page starts below; 0 for the newest.
	Before notify.Cursor
	// Limit bounds the entries returned; it is at least 1.
	Limit      int
	UnreadOnly bool
	Archived   ArchiveFilter
}

// InboxEntry is an inbox entry with its state.
type InboxEntry struct {
	notify.Entry
	Seen, Read, Archived bool
}

// InboxPage is one page of an inbox.
type InboxPage struct {
	// Entries, newest first, none of them expired.
	Entries []InboxEntry
	// Next is the Before of the next page; 0 when there is none.
	Next notify.Cursor
	// Last is the user's newest cursor when the page was read, expired
	// entries included: the cursor to stream from after listing.
	Last notify.Cursor
	// Counts are the user's counts when the page was read.
	Counts notify.Counts
}

// MarkAction is a change of state.
type MarkAction int8

// Mark actions. Read implies seen; unread leaves seen alone.
const (
	MarkSeen MarkAction = iota + 1
	MarkRead
	MarkUnread
	MarkArchive
	MarkUnarchive
)

// Mark selects entries, by notification ID or as every entry with a
// cursor up to UpTo (when IDs is empty), and changes their state.
type Mark struct {
	Action MarkAction
	IDs    []string
	UpTo   notify.Cursor
}

// Inbox is a user's inbox with its read state. Expired notifications are
// neither listed nor counted.
type Inbox interface {
	List(ctx context.Context, user notify.UserID, q ListQuery) (InboxPage, error)
	// Mark changes entries of user only, and returns how many changed and
	// the counts after the change.
	Mark(ctx context.Context, user notify.UserID, m Mark) (changed int, counts notify.Counts, err error)
	Counts(ctx context.Context, user notify.UserID) (notify.Counts, error)
}

// CommitHook receives entries right after they became durable, in cursor
// order per user, before Append returns. It must not block: in one process it
// hands them to the hub; in a cluster, to the bus.
type CommitHook func(entries []notify.Entry)

// Recent returns up to n of user's newest entries that are still there and
// not expired, oldest first.
func Recent(ctx context.Context, s Store, user notify.UserID, n int) ([]notify.Entry, error) {
	lastOf, read := s.Last, s.Read
	if ch, ok := notify.ChannelOf(user); ok {
		// A channel's events travel under its key: the same catch-up.
		lastOf = func(ctx context.Context, _ notify.UserID) (notify.Cursor, error) { return s.ChannelLast(ctx, ch) }
		read = func(ctx context.Context, _ notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error) {
			return s.ChannelRead(ctx, ch, after, limit)
		}
	}
	last, err := lastOf(ctx, user)
	if err != nil || last == 0 || n <= 0 {
		return nil, err
	}
	after := notify.Cursor(0)
	if last > notify.Cursor(n) {
		after = last - notify.Cursor(n)
	}
	es, err := read(ctx, user, after, n)
	if errors.Is(err, notify.ErrCursorExpired) && after < last-1 {
		// Retention trimmed some of them: the newest alone, then.
		es, err = read(ctx, user, last-1, 1)
	}
	if errors.Is(err, notify.ErrCursorExpired) {
		return nil, nil // trimmed: nothing to catch up to
	}
	return es, err
}
