package router

import (
	"context"
	"fmt"
	"slices"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// source is one sorted stream of user IDs: the direct users, or a topic's
// subscribers read page by page.
type source struct {
	topic int // index in the notification's Topics; -1 for the direct users
	ids   []notify.UserID
	i     int           // next in ids
	last  notify.UserID // last ID read: the next page starts after it
	done  bool          // no page after ids
}

// candidate is a user reached before preferences apply: directly, and/or
// through the topics via[from:to] of its merge.
type candidate struct {
	user     notify.UserID
	direct   bool
	from, to int32
}

// merge is a k-way merge of a notification's sources in ascending user ID
// order. It holds at most one page per topic, one chunk of candidates and
// the part being filled, each of at most partSize.
type merge struct {
	r        *Router
	n        *notify.Notification
	partSize int
	usePrefs bool

	srcs []source
	heap []int32 // indices in srcs of the sources with IDs left, by next ID

	cands []candidate
	via   []int32
	users []notify.UserID // the chunk's users, for PreferencesOf
	out   []store.Recipient
}

func (r *Router) newMerge(ctx context.Context, n *notify.Notification, after notify.UserID, partSize int) (*merge, error) {
	m := &merge{
		r:        r,
		n:        n,
		partSize: partSize,
		usePrefs: r.prefs != nil && n.Priority != notify.PriorityCritical,
		srcs:     make([]source, 0, len(n.Topics)+1),
	}
	if len(n.Users) > 0 {
		direct := make([]notify.UserID, 0, len(n.Users))
		for _, u := range n.Users {
			if u > after {
				direct = append(direct, u)
			}
		}
		slices.Sort(direct)
		m.srcs = append(m.srcs, source{topic: -1, ids: slices.Compact(direct), done: true})
	}
	for i := range n.Topics {
		m.srcs = append(m.srcs, source{topic: i, last: after})
		if err := m.fetch(ctx, &m.srcs[len(m.srcs)-1]); err != nil {
			return nil, err
		}
	}
	m.heap = make([]int32, 0, len(m.srcs))
	for i := range m.srcs {
		if m.srcs[i].i < len(m.srcs[i].ids) {
			m.heap = append(m.heap, int32(i))
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m, nil
}

// fetch reads the page of s after s.last. Only an empty page ends a topic,
// so a store that caps its page size below partSize loses nobody.
func (m *merge) fetch(ctx context.Context, s *source) error {
	t := m.n.Topics[s.topic]
	page, err := m.r.subs.TopicSubscribers(ctx, t, s.last, m.partSize)
	if err != nil {
		return fmt.Errorf("router: subscribers of %q: %w", t, err)
	}
	// The merge's dedup and the resume point both rest on strictly
	// ascending pages; a source that breaks that would silently duplicate
	// or skip users.
	prev := s.last
	for _, u := range page {
		if u <= prev {
			return fmt.Errorf("router: subscribers of %q not in ascending order after %q", t, prev)
		}
		prev = u
	}
	s.ids, s.i, s.last, s.done = page, 0, prev, len(page) == 0
	return nil
}

func (m *merge) run(ctx context.Context, fn func([]store.Recipient) error) error {
	for len(m.heap) > 0 {
		s := &m.srcs[m.heap[0]]
		c := candidate{user: s.ids[s.i], from: int32(len(m.via))}
		for len(m.heap) > 0 {
			s := &m.srcs[m.heap[0]]
			if s.ids[s.i] != c.user {
				break
			}
			if s.topic < 0 {
				c.direct = true
			} else {
				m.via = append(m.via, int32(s.topic))
			}
			s.i++
			if s.i == len(s.ids) && !s.done {
				if err := m.fetch(ctx, s); err != nil {
					return err
				}
			}
			if s.i < len(s.ids) {
				m.down(0)
			} else {
				m.pop()
			}
		}
		c.to = int32(len(m.via))
		m.cands = append(m.cands, c)
		if len(m.cands) == m.partSize {
			if err := m.resolve(ctx, fn); err != nil {
				return err
			}
		}
	}
	if err := m.resolve(ctx, fn); err != nil {
		return err
	}
	if len(m.out) > 0 {
		return fn(m.out)
	}
	return nil
}

// resolve applies preferences to the chunk of candidates, with one
// PreferencesOf call, and moves the recipients into parts.
func (m *merge) resolve(ctx context.Context, fn func([]store.Recipient) error) error {
	if len(m.cands) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var ps []store.UserPreferences
	if m.usePrefs && (m.n.Category != "" || len(m.via) > 0) {
		m.users = m.users[:0]
		for _, c := range m.cands {
			m.users = append(m.users, c.user)
		}
		var err error
		if ps, err = m.r.preferencesOf(ctx, m.users); err != nil {
			return err
		}
	}
	for i, c := range m.cands {
		var p store.UserPreferences
		if ps != nil {
			p = ps[i]
		}
		if muted(p.MutedCategories, m.n.Category) {
			continue
		}
		rc := store.Recipient{User: c.user}
		if !c.direct {
			best := int32(-1)
			for _, t := range m.via[c.from:c.to] {
				if (best < 0 || t < best) && !muted(p.MutedTopics, m.n.Topics[t]) {
					best = t
				}
			}
			if best < 0 {
				continue
			}
			rc.Topic = m.n.Topics[best]
		}
		m.out = append(m.out, rc)
		if len(m.out) == m.partSize {
			if err := fn(m.out); err != nil {
				return err
			}
			// fn owns the part. Later parts are likely full: allocate
			// them whole instead of growing them.
			m.out = make([]store.Recipient, 0, m.partSize)
		}
	}
	m.cands, m.via = m.cands[:0], m.via[:0]
	return nil
}

// The heap orders m.heap by each source's next ID.

func (m *merge) less(a, b int32) bool {
	sa, sb := &m.srcs[a], &m.srcs[b]
	return sa.ids[sa.i] < sb.ids[sb.i]
}

func (m *merge) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (m *merge) pop() {
	last := len(m.heap) - 1
	m.heap[0] = m.heap[last]
	m.heap = m.heap[:last]
	if last > 0 {
		m.down(0)
	}
}
