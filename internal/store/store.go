// Package store defines the contract of Herald's durable inbox store. The
// backends live in store/embedded (local disk) and, later, store/redis; the
// shared contract tests in store/storetest keep them from drifting apart.
package store

import (
	"context"

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
type Store interface {
	Append(ctx context.Context, ds []Delivery) ([]Result, error)
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
	Close() error
}

// CommitHook receives entries right after they became durable, in cursor
// order per user, before Append returns. It must not block: in one process it
// hands them to the hub; in a cluster, to the bus.
type CommitHook func(entries []notify.Entry)
