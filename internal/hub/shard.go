package hub

import (
	"slices"
	"sync"

	"github.com/heraldhq/herald/internal/notify"
)

// shard owns the subscriptions of the users whose ID hashes to it. Publish
// takes the read lock, so publishers to different users of one shard do not
// wait on each other; only connection churn takes the write lock.
type shard struct {
	mu sync.RWMutex
	// users holds each user's subscriptions in a slice: most users have
	// one, and starting a map iteration per delivered entry cost a third
	// of Publish.
	users  map[notify.UserID][]*Subscription
	closed bool
	_      [24]byte // pad to 64 bytes: neighbouring shards' locks on separate cache lines
}

// add registers s under user unless the shard is closed; first reports
// whether s is the user's only subscription.
func (sh *shard) add(s *Subscription, user notify.UserID) (first, ok bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return false, false
	}
	set := sh.users[user]
	first = len(set) == 0
	sh.users[user] = append(set, s)
	return first, true
}

// remove unregisters s from user and reports whether it was still
// registered and whether it was the user's last subscription.
func (sh *shard) remove(s *Subscription, user notify.UserID) (removed, last bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.users[user]
	i := slices.Index(set, s)
	if i < 0 {
		return false, false
	}
	if len(set) == 1 {
		delete(sh.users, user)
		return true, true
	}
	sh.users[user] = slices.Delete(set, i, i+1)
	return true, false
}

// deliver offers each entry to every active subscription of its user without
// blocking. A full queue evicts the subscription on the spot (Done closes at
// once); unregistering it needs the write lock and is left to sweep.
func (sh *shard) deliver(entries []notify.Entry) (delivered, evicted int) {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for i := range entries {
		for _, s := range sh.users[entries[i].User] {
			if !s.active() {
				continue
			}
			if s.offer(&entries[i]) {
				delivered++
			} else if s.finish(ErrSlowConsumer) {
				evicted++
			}
		}
	}
	return delivered, evicted
}

// sweep unregisters the finished subscriptions of the users of entries and
// returns how many it removed (of those whose first key the user is: a
// subscription counts once), and the users left with none.
func (sh *shard) sweep(entries []notify.Entry) (removed int, gone []notify.UserID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i := range entries {
		user := entries[i].User
		set, ok := sh.users[user]
		if !ok {
			continue // an earlier entry of the user emptied it
		}
		kept := slices.DeleteFunc(set, func(s *Subscription) bool {
			if s.active() {
				return false
			}
			if s.user == user {
				removed++
			}
			return true
		})
		if len(kept) == 0 {
			delete(sh.users, user)
			gone = append(gone, user)
		} else {
			sh.users[user] = kept
		}
	}
	return removed, gone
}

func (sh *shard) len() int {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	n := 0
	for user, set := range sh.users {
		for _, s := range set {
			if s.user == user {
				n++
			}
		}
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
		for _, s := range set {
			s.finish(notify.ErrClosed)
			if s.user == user {
				n++
			}
		}
		delete(sh.users, user)
		gone = append(gone, user)
	}
	return n, gone
}
