package rpc_test

import (
	"context"
	"slices"
	"sync"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// fakeStore is an in-memory store of inboxes, subscriptions and
// preferences that records the user of every call, so that tests can check
// whom a method acted on. Its errors are set per test.
type fakeStore struct {
	mu    sync.Mutex
	err   error
	users []notify.UserID // the user argument of each call, in order
	// inbox per user, oldest first
	inbox map[notify.UserID][]store.InboxEntry
	subs  map[notify.Topic]map[notify.UserID]bool
	prefs map[notify.UserID]store.UserPreferences

	lastQuery  store.ListQuery
	lastMark   store.Mark
	lastChange store.PreferenceChange
	lastPairs  [2]int // topics, users of the last (un)subscribe
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		inbox: map[notify.UserID][]store.InboxEntry{},
		subs:  map[notify.Topic]map[notify.UserID]bool{},
		prefs: map[notify.UserID]store.UserPreferences{},
	}
}

func (f *fakeStore) add(user notify.UserID, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := notify.Cursor(len(f.inbox[user]) + 1)
	f.inbox[user] = append(f.inbox[user], store.InboxEntry{Entry: notify.Entry{
		User: user, Cursor: c, Notification: &notify.Notification{ID: id, Title: id},
	}})
}

func (f *fakeStore) record(u notify.UserID) error {
	f.users = append(f.users, u)
	return f.err
}

// calledWith returns the users recorded since the last call, and resets.
func (f *fakeStore) calledWith() []notify.UserID {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users
	f.users = nil
	return u
}

func (f *fakeStore) counts(user notify.UserID) notify.Counts {
	var c notify.Counts
	for _, e := range f.inbox[user] {
		if e.Archived {
			continue
		}
		if !e.Read {
			c.Unread++
		}
		if !e.Seen {
			c.Unseen++
		}
	}
	return c
}

func (f *fakeStore) List(_ context.Context, user notify.UserID, q store.ListQuery) (store.InboxPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastQuery = q
	if err := f.record(user); err != nil {
		return store.InboxPage{}, err
	}
	all := f.inbox[user]
	p := store.InboxPage{Counts: f.counts(user)}
	if len(all) > 0 {
		p.Last = all[len(all)-1].Cursor
	}
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if q.Before != 0 && e.Cursor >= q.Before {
			continue
		}
		if len(p.Entries) == q.Limit {
			p.Next = p.Entries[len(p.Entries)-1].Cursor
			break
		}
		p.Entries = append(p.Entries, e)
	}
	return p, nil
}

func (f *fakeStore) Mark(_ context.Context, user notify.UserID, m store.Mark) (int, notify.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMark = m
	if err := f.record(user); err != nil {
		return 0, notify.Counts{}, err
	}
	changed := 0
	for i := range f.inbox[user] {
		e := &f.inbox[user][i]
		if len(m.IDs) > 0 && !slices.Contains(m.IDs, e.Notification.ID) || len(m.IDs) == 0 && e.Cursor > m.UpTo {
			continue
		}
		before := *e
		switch m.Action {
		case store.MarkSeen:
			e.Seen = true
		case store.MarkRead:
			e.Seen, e.Read = true, true
		case store.MarkUnread:
			e.Read = false
		case store.MarkArchive:
			e.Archived = true
		case store.MarkUnarchive:
			e.Archived = false
		}
		if before.Seen != e.Seen || before.Read != e.Read || before.Archived != e.Archived {
			changed++
		}
	}
	return changed, f.counts(user), nil
}

func (f *fakeStore) Counts(_ context.Context, user notify.UserID) (notify.Counts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(user); err != nil {
		return notify.Counts{}, err
	}
	return f.counts(user), nil
}

func (f *fakeStore) Subscribe(_ context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastPairs = [2]int{len(topics), len(users)}
	n := 0
	for _, u := range users {
		if err := f.record(u); err != nil {
			return 0, err
		}
		for _, t := range topics {
			if f.subs[t] == nil {
				f.subs[t] = map[notify.UserID]bool{}
			}
			if !f.subs[t][u] {
				f.subs[t][u] = true
				n++
			}
		}
	}
	return n, nil
}

func (f *fakeStore) Unsubscribe(_ context.Context, topics []notify.Topic, users []notify.UserID) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastPairs = [2]int{len(topics), len(users)}
	n := 0
	for _, u := range users {
		if err := f.record(u); err != nil {
			return 0, err
		}
		for _, t := range topics {
			if f.subs[t][u] {
				delete(f.subs[t], u)
				n++
			}
		}
	}
	return n, nil
}

func (f *fakeStore) UserTopics(_ context.Context, user notify.UserID, after notify.Topic, limit int) ([]notify.Topic, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(user); err != nil {
		return nil, err
	}
	var out []notify.Topic
	for t, us := range f.subs {
		if us[user] && t > after {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out[:min(limit, len(out))], nil
}

func (f *fakeStore) TopicSubscribers(_ context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []notify.UserID
	for u := range f.subs[topic] {
		if u > after {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out[:min(limit, len(out))], nil
}

func (f *fakeStore) UserPreferences(_ context.Context, user notify.UserID) (store.UserPreferences, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record(user); err != nil {
		return store.UserPreferences{}, err
	}
	return f.prefs[user], nil
}

func (f *fakeStore) UpdatePreferences(_ context.Context, user notify.UserID, ch store.PreferenceChange) (store.UserPreferences, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastChange = ch
	if err := f.record(user); err != nil {
		return store.UserPreferences{}, err
	}
	p := f.prefs[user]
	p.MutedTopics = apply(p.MutedTopics, ch.MuteTopics, ch.UnmuteTopics)
	p.MutedCategories = apply(p.MutedCategories, ch.MuteCategories, ch.UnmuteCategories)
	f.prefs[user] = p
	return p, nil
}

func apply[T ~string](set, add, remove []T) []T {
	out := slices.DeleteFunc(slices.Clone(set), func(x T) bool { return slices.Contains(remove, x) })
	for _, x := range add {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// publisher records published entries.
type publisher struct {
	mu      sync.Mutex
	entries []notify.Entry
}

func (p *publisher) Publish(es []notify.Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = append(p.entries, es...)
}

func (p *publisher) take() []notify.Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.entries
	p.entries = nil
	return e
}
