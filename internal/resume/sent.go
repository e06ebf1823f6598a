package resume

import (
	"hash/maphash"

	"github.com/heraldhq/herald/internal/notify"
)

// sentRing remembers the last few entries a stream sent, by cursor and a
// hash of the notification ID, to tell a duplicate from a reused cursor.
//
// A store whose counter went back reuses cursors: a Redis replica promoted
// before it received the newest writes (no --redis-wait-replicas), or a
// Redis restarted without persistence, gives the next entry a cursor the
// client already has, under another notification. Dropping it as seen, as
// a duplicate would be, skips it silently, and every entry after it up to
// the old cursor too. A cursor the stream sent with another notification
// makes it send a reset instead, so the client refetches. An entry at or
// below the last cursor sent that is older than the ring is checked against
// the store (Stream.wentBack): the store's entry at the last cursor sent
// must still be the notification sent under it. What is not noticed is a
// counter whose first reuse came while the client was away: it resumes from
// a cursor that is still valid. In a cluster, a failover takes the nodes'
// bus subscriptions on the lost master with it, and what is committed
// before a node subscribes again reaches its streams through the bus's
// recovery: it hands over the user's Remembered newest entries, so that the
// reused cursors among them are compared too.
// Remembered is how many of the cursors it sent a stream remembers.
const Remembered = 16

type sentRing struct {
	ring [Remembered]struct {
		cursor notify.Cursor
		id     uint64
	}
	next int
}

var idSeed = maphash.MakeSeed()

func idHash(n *notify.Notification) uint64 {
	if n == nil {
		return 0
	}
	return maphash.String(idSeed, n.ID)
}

func (r *sentRing) add(en *notify.Entry) {
	r.ring[r.next].cursor, r.ring[r.next].id = en.Cursor, idHash(en.Notification)
	r.next = (r.next + 1) % len(r.ring)
}

// sentAt reports the ID hash of the notification sent under cursor c, and
// whether the ring still holds c.
func (r *sentRing) sentAt(c notify.Cursor) (id uint64, ok bool) {
	if c == 0 {
		return 0, false
	}
	for _, s := range r.ring {
		if s.cursor == c {
			return s.id, true
		}
	}
	return 0, false
}
