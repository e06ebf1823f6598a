package embedded

import (
	"hash/maphash"
	"sync"

	"github.com/heraldhq/herald/internal/notify"
)

// durableBounds hides entries whose WAL sync is still under way from
// readers. Pebble makes a batch visible before its WAL sync ends, and the
// writer applies the next group while the previous one syncs (see syncer);
// without a bound, a stream replaying or a page listing could show an entry
// that a crash a moment later would take back. The bound of a user is the
// last cursor known durable while some of the user's entries are pending;
// users with none pending have no bound and cost readers one map lookup.
type durableBounds struct {
	seed   maphash.Seed
	shards [32]boundShard
}

type boundShard struct {
	mu sync.Mutex
	m  map[notify.UserID]pendingUser
	_  [40]byte // keep neighbouring shards' locks on separate cache lines
}

type pendingUser struct {
	durable notify.Cursor // the last cursor known durable
	groups  int           // groups in flight with entries of the user
}

// span is the cursors one group appends for a user.
type span struct {
	user        notify.UserID
	first, last notify.Cursor
}

func newDurableBounds() *durableBounds {
	d := &durableBounds{seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].m = make(map[notify.UserID]pendingUser)
	}
	return d
}

func (d *durableBounds) shard(user notify.UserID) *boundShard {
	return &d.shards[maphash.String(d.seed, string(user))%uint64(len(d.shards))]
}

// begin is called before a group is applied: its entries stay hidden until
// done.
func (d *durableBounds) begin(sp []span) {
	for _, s := range sp {
		user := s.user
		sh := d.shard(user)
		sh.mu.Lock()
		p, ok := sh.m[user]
		if !ok {
			p.durable = s.first - 1
		}
		p.groups++
		sh.m[user] = p
		sh.mu.Unlock()
	}
}

// done is called once the group's WAL sync succeeded, in group order.
func (d *durableBounds) done(sp []span) {
	for _, s := range sp {
		user := s.user
		sh := d.shard(user)
		sh.mu.Lock()
		p := sh.m[user]
		if p.groups <= 1 {
			delete(sh.m, user)
		} else {
			p.durable = s.last
			p.groups--
			sh.m[user] = p
		}
		sh.mu.Unlock()
	}
}

// bound returns the last cursor of user that readers may see, if some of
// the user's entries are not durable yet.
func (d *durableBounds) bound(user notify.UserID) (notify.Cursor, bool) {
	sh := d.shard(user)
	sh.mu.Lock()
	p, ok := sh.m[user]
	sh.mu.Unlock()
	return p.durable, ok
}

// reset forgets every pending group. The writer calls it when it reopens
// the database: what the WAL replay brought back is durable, and nothing
// else is pending.
func (d *durableBounds) reset() {
	for i := range d.shards {
		sh := &d.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}
