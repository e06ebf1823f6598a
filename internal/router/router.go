// Package router resolves a notification's audience into its recipients:
// the users it names and the subscribers of its topics, less those who
// muted it, in ascending user ID order and in parts, so that a topic of any
// size streams through in bounded memory.
package router

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Subscribers lists a topic's users in ascending order, up to limit after
// `after` ("" for the first page); see store.Subscriptions.
type Subscribers interface {
	TopicSubscribers(ctx context.Context, topic notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error)
}

// Preferences returns users' mutes, in the order given; see
// store.Preferences.
type Preferences interface {
	PreferencesOf(ctx context.Context, users []notify.UserID) ([]store.UserPreferences, error)
}

// DefaultPartSize is the part size Route uses when given none.
const DefaultPartSize = 1000

// Router turns audiences into recipients. It is safe for concurrent use.
type Router struct {
	subs  Subscribers
	prefs Preferences
}

// New returns a Router that looks topic subscribers up in subs and, when
// subs also implements Preferences (as a store does), applies users' mutes.
// With a nil subs, topics reach nobody and nothing is muted.
func New(subs Subscribers) *Router {
	r := &Router{subs: subs}
	if p, ok := subs.(Preferences); ok {
		r.prefs = p
	}
	return r
}

// Route produces the users n reaches with a user ID greater than after
// ("" for all), each once and in ascending order, and calls fn with them in
// parts of at most partSize (DefaultPartSize if ≤ 0). fn owns each part; an
// error from fn stops routing and is returned. fn is not called when nobody
// is reached.
//
// Who is reached (the rule stated in the API docs): a user addressed
// directly gets it with an empty Topic, since a topic mute cannot mute a
// direct address; a subscriber gets it through the first of n's topics, in
// n's order, that they did not mute, and not at all if they muted every
// topic that reaches them. A muted category blocks it whichever way.
// PriorityCritical ignores preferences.
//
// Memory stays bounded by partSize per topic: subscribers are read in pages
// of partSize and merged, and preferences are fetched once per partSize
// users.
func (r *Router) Route(ctx context.Context, n *notify.Notification, after notify.UserID, partSize int, fn func(part []store.Recipient) error) error {
	if partSize <= 0 {
		partSize = DefaultPartSize
	}
	if r.subs == nil || len(n.Topics) == 0 {
		return r.routeDirect(ctx, n, after, partSize, fn)
	}
	m, err := r.newMerge(ctx, n, after, partSize)
	if err != nil {
		return err
	}
	return m.run(ctx, fn)
}

// routeDirect handles the common notification without topics (or with no
// subscriptions configured): one allocation, the recipient slice, whose
// subslices are the parts.
func (r *Router) routeDirect(ctx context.Context, n *notify.Notification, after notify.UserID, partSize int, fn func([]store.Recipient) error) error {
	out := make([]store.Recipient, 0, len(n.Users))
	for _, u := range n.Users {
		if u > after {
			out = append(out, store.Recipient{User: u})
		}
	}
	if !slices.IsSortedFunc(out, byUser) {
		slices.SortFunc(out, byUser)
	}
	out = slices.CompactFunc(out, func(a, b store.Recipient) bool { return a.User == b.User })
	if r.prefs != nil && n.Priority != notify.PriorityCritical && n.Category != "" {
		var err error
		if out, err = r.filterDirect(ctx, n, out, partSize); err != nil {
			return err
		}
	}
	for len(out) > 0 {
		k := min(partSize, len(out))
		// A full slice expression, so that fn appending to its part
		// cannot overwrite the next one.
		if err := fn(out[:k:k]); err != nil {
			return err
		}
		out = out[k:]
	}
	return nil
}

// filterDirect drops the direct recipients who muted n's category, asking
// for preferences partSize users at a time; it filters rs in place.
func (r *Router) filterDirect(ctx context.Context, n *notify.Notification, rs []store.Recipient, partSize int) ([]store.Recipient, error) {
	users := make([]notify.UserID, 0, min(partSize, len(rs)))
	kept := 0
	for start := 0; start < len(rs); start += partSize {
		chunk := rs[start:min(start+partSize, len(rs))]
		users = users[:0]
		for _, rc := range chunk {
			users = append(users, rc.User)
		}
		ps, err := r.preferencesOf(ctx, users)
		if err != nil {
			return nil, err
		}
		for i, rc := range chunk {
			if !muted(ps[i].MutedCategories, n.Category) {
				rs[kept] = rc
				kept++
			}
		}
	}
	return rs[:kept], nil
}

func (r *Router) preferencesOf(ctx context.Context, users []notify.UserID) ([]store.UserPreferences, error) {
	ps, err := r.prefs.PreferencesOf(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("router: preferences of %d users: %w", len(users), err)
	}
	if len(ps) != len(users) {
		return nil, fmt.Errorf("router: preferences of %d users returned %d", len(users), len(ps))
	}
	return ps, nil
}

// muted reports whether sorted, the sorted list of a user's mutes, holds
// name.
func muted[S ~string](sorted []S, name S) bool {
	if len(sorted) == 0 || name == "" {
		return false
	}
	_, found := slices.BinarySearch(sorted, name)
	return found
}

func byUser(a, b store.Recipient) int { return strings.Compare(string(a.User), string(b.User)) }
