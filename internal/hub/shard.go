package hub

import (
	"sync"

	"github.com/heraldhq/herald/internal/notify"
)

// shard owns the subscriptions of the users whose ID hashes to it. Publish
// takes the read lock, so publishers to different users of one shard do not
// wait on each other; only connection churn takes the write lock.
type shard struct {
	mu     sync.RWMutex
	users  map[notify.UserID]map[*Subscription]struct{}
	closed bool
	_      [24]byte // pad to 64 bytes: neighbouring shards' locks on separate cache lines
}

// add registers s unless the shard is closed; first reports whether s is
// its user's only subscription.
func (sh *shard) add(s *Subscription) (first, ok bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false, false
	}
	set := sh.users[s.user]
	if set == nil {
		set = make(map[*Subscription]struct{}, 1)
		sh.users[s.user] = set
		first = true
	}
	set[s] = struct{}{}
	return first, true
}

// remove unregisters s and reports whether it was still registered and
// whether it was its user's last subscription.
func (sh *shard) remove(s *Subscription) (removed, last bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.users[s.user]
	if _, ok := set[s]; !ok {
		return false, false
	}
	delete(set, s)
	if len(set) == 0 {
		delete(sh.users, s.user)
		last = true
	}
	return true, last
}

// deliver offers each entry to every active subscription of its user without
// blocking. A full queue evicts the subscription on the spot (Done closes at
// once); unregistering it needs the write lock and is left to sweep.
func (sh *shard) deliver(entries []notify.Entry) (delivered, evicted int) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for i := range entries {
		for s := range sh.users[entries[i].User] {
			if !s.active() {
				continue
			}
			select {
			case s.ch <- &entries[i]:
				delivered++
			default:
				if s.finish(ErrSlowConsumer) {
					evicted++
				}
			}
		}
	}
	return delivered, evicted
}

// sweep unregisters the finished subscriptions of the users of entries and
// returns how many it removed, and the users left with none.
func (sh *shard) sweep(entries []notify.Entry) (removed int, gone []notify.UserID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range entries {
		user := entries[i].User
		set := sh.users[user]
		for s := range set {
			if !s.active() {
				delete(set, s)
				removed++
			}
		}
		if set != nil && len(set) == 0 {
			delete(sh.users, user)
			gone = append(gone, user)
		}
	}
	return removed, gone
}

func (sh *shard) len() int {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	n := 0
	for _, set := range sh.users {
		n += len(set)
	}
	return n
}

// close finishes every subscription, refuses new ones and returns how many
// were registered, and their users.
func (sh *shard) close() (n int, gone []notify.UserID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.closed = true
	for user, set := range sh.users {
		for s := range set {
			s.finish(notify.ErrClosed)
			n++
		}
		delete(sh.users, user)
		gone = append(gone, user)
	}
	return n, gone
}
