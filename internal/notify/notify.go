// Package notify holds Herald's domain values: notifications, inbox entries,
// user IDs, topics and cursors, and the sentinel errors every stage shares.
package notify

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors. Stages wrap them with %w; only rpc, sse and rest translate
// them into gRPC codes and HTTP statuses.
var (
	// ErrCursorExpired means entries after the cursor were removed by
	// retention, so a resume from it would have a gap.
	ErrCursorExpired = errors.New("cursor older than retained history")
	// ErrUnavailable means a dependency (the store) cannot take the request
	// now; nothing was acknowledged.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrClosed means the component was shut down.
	ErrClosed = errors.New("closed")
	// ErrIdempotencyKeyReused means an idempotency key was sent again,
	// within the window, with a notification different from the one it
	// first came with; nothing was stored.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused for a different notification")
)

// UnavailableError is an ErrUnavailable that names the dependency which
// failed, such as "redis", so that a client can be told what is down. The
// name is safe to show; Err, the cause, is for logs and probes only.
type UnavailableError struct {
	Dependency string
	Err        error
}

func (e *UnavailableError) Error() string {
	return e.Dependency + " " + ErrUnavailable.Error() + ": " + e.Err.Error()
}

// Unwrap makes the error both ErrUnavailable and its cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// UserID identifies a recipient. Ingest guarantees it is valid UTF-8 without
// control characters and at most MaxUserIDLen bytes.
type UserID string

// Topic names a group of subscribers.
type Topic string

// MaxUserIDLen bounds user IDs so that they fit in keys and headers.
const MaxUserIDLen = 256

// Priority mirrors herald.v1.Priority.
type Priority int8

// Priorities, with the same numbers as the API enum.
const (
	PriorityUnspecified Priority = 0
	PriorityLow         Priority = 1
	PriorityNormal      Priority = 2
	PriorityHigh        Priority = 3
	PriorityCritical    Priority = 4
)

// String returns the lower-case name used in JSON payloads.
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityHigh:
		return "high"
	case PriorityCritical:
		return "critical"
	default:
		return "normal"
	}
}

// DefaultType is the event type of a notification sent without one.
const DefaultType = "notification"

// Notification is a validated notification with its audience, as it flows
// from ingest through the router into the store. It is immutable once built:
// many inbox entries and connections share one value.
type Notification struct {
	ID         string
	Type       string
	Title      string
	Body       string
	Data       json.RawMessage // compact JSON object, or nil
	Category   string
	Priority   Priority
	CreateTime time.Time
	ExpireTime time.Time // zero: never expires

	// IdempotencyKey is already scoped to the sender by ingest; empty means
	// none.
	IdempotencyKey string
	// Fingerprint identifies the content the sender chose (see
	// ContentFingerprint), kept with the idempotency record so that a key
	// reused for another notification is told from a retry. Empty: not
	// known, which matches any.
	Fingerprint string

	Users    []UserID
	Topics   []Topic
	Channels []Channel

	payloadOnce sync.Once
	payload     []byte
	// byVia holds the payloads of recipients reached through a topic and
	// of channel events, which name the topic or channel; copied on write,
	// since a fan-out reads it from every stream at once and a notification
	// has few topics and channels.
	byVia atomic.Pointer[[]viaPayload]
}

// via is how a payload's recipient was reached: a topic or a channel.
type via struct {
	name    string
	channel bool
}

type viaPayload struct {
	via     via
	payload []byte
}

// Expired reports whether the notification must no longer be delivered.
func (n *Notification) Expired(now time.Time) bool {
	return !n.ExpireTime.IsZero() && !now.Before(n.ExpireTime)
}

// EventType is the SSE event name of the notification.
func (n *Notification) EventType() string {
	if n.Type == "" {
		return DefaultType
	}
	return n.Type
}

// Payload returns the JSON object that clients receive for this notification
// (the SSE `data:` line), encoded once and shared by every recipient reached
// directly. It never contains a raw newline. Callers must not modify it.
func (n *Notification) Payload() []byte {
	n.payloadOnce.Do(func() { n.payload = n.encodePayload(via{}) })
	return n.payload
}

// PayloadFor returns the payload as seen by a recipient reached through
// topic; with an empty topic it is Payload.
func (n *Notification) PayloadFor(topic Topic) []byte {
	if topic == "" {
		return n.Payload()
	}
	return n.payloadVia(via{name: string(topic)})
}

// ChannelPayload returns the payload of the notification as an event of
// channel, which names it; every listener of the channel shares it.
func (n *Notification) ChannelPayload(channel Channel) []byte {
	return n.payloadVia(via{name: string(channel), channel: true})
}

func (n *Notification) payloadVia(v via) []byte {
	for {
		cur := n.byVia.Load()
		var old []viaPayload
		if cur != nil {
			old = *cur
		}
		for _, vp := range old {
			if vp.via == v {
				return vp.payload
			}
		}
		b := n.encodePayload(v)
		next := make([]viaPayload, len(old), len(old)+1)
		copy(next, old)
		next = append(next, viaPayload{via: v, payload: b})
		// A lost race encodes again; the winner's payload is the same.
		if n.byVia.CompareAndSwap(cur, &next) {
			return b
		}
	}
}

// Entry is one user's inbox entry: a notification at a position of that
// user's stream. A channel's event is an Entry too, under the channel's Key
// as its User and with the channel's offset as its Cursor, so that it
// travels the way inbox entries do.
type Entry struct {
	User         UserID
	Cursor       Cursor
	Topic        Topic // the topic that reached the user; empty if addressed directly
	Notification *Notification

	// Counts, when set, makes the entry a read-state event rather than a
	// notification: the user's inbox state changed (on another device,
	// say) and these are the new counts. Cursor is then 0, Notification
	// nil, and streams send it without moving the client's resume point.
	Counts *Counts
}

// Counts are a user's badge numbers. Archived entries count in neither.
type Counts struct {
	Unread int // not read
	Unseen int // not seen
}

// Payload is the JSON the recipient receives.
func (e Entry) Payload() []byte {
	if ch, ok := ChannelOf(e.User); ok {
		return e.Notification.ChannelPayload(ch)
	}
	return e.Notification.PayloadFor(e.Topic)
}

// Names of the control events a stream sends besides notifications. A
// notification's type may not be one of them, or a sender could make clients
// believe their stream was reset or closed.
const (
	EventReset        = "reset"         // the resume cursor is older than retained history
	EventTokenExpired = "token-expired" // the stream's token expired; reconnect with a new one
	EventShutdown     = "shutdown"      // the server is going away; reconnect after retry
	EventRead         = "read"          // the inbox's read state changed; data carries the new counts
)

// IsControlEvent reports whether name is reserved for stream control events.
func IsControlEvent(name string) bool {
	return name == EventReset || name == EventTokenExpired || name == EventShutdown || name == EventRead
}

// AppendJSON appends c as the JSON object {"unread":N,"unseen":M}, the data
// of a read event.
func (c Counts) AppendJSON(b []byte) []byte {
	b = append(b, `{"unread":`...)
	b = strconv.AppendInt(b, int64(c.Unread), 10)
	b = append(b, `,"unseen":`...)
	b = strconv.AppendInt(b, int64(c.Unseen), 10)
	return append(b, '}')
}
