// Package router resolves a notification's audience into its recipients:
// the users it names, and the subscribers of its topics.
package router

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Subscribers enumerates the users subscribed to a topic, calling fn for
// each; an error from fn stops the enumeration and is returned.
type Subscribers interface {
	Subscribers(ctx context.Context, topic notify.Topic, fn func(notify.UserID) error) error
}

// Router turns audiences into recipient lists. It is safe for concurrent
// use.
type Router struct {
	subs Subscribers
}

// New returns a Router that looks topic subscribers up in subs. With a nil
// subs, topics reach nobody (until subscriptions are configured).
func New(subs Subscribers) *Router {
	return &Router{subs: subs}
}

// Route returns each user n reaches exactly once: the directly addressed
// users first, in order, with an empty Topic (a direct address wins over any
// topic), then the subscribers of each topic not reached before, with the
// first topic that reached them.
func (r *Router) Route(ctx context.Context, n *notify.Notification) ([]store.Recipient, error) {
	out := make([]store.Recipient, 0, len(n.Users))
	seen := make(map[notify.UserID]struct{}, len(n.Users))
	for _, u := range n.Users {
		if _, dup := seen[u]; dup {
			continue
		}
		seen[u] = struct{}{}
		out = append(out, store.Recipient{User: u})
	}
	if r.subs == nil {
		return out, nil
	}
	for _, t := range n.Topics {
		err := r.subs.Subscribers(ctx, t, func(u notify.UserID) error {
			if _, dup := seen[u]; !dup {
				seen[u] = struct{}{}
				out = append(out, store.Recipient{User: u, Topic: t})
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("router: subscribers of %q: %w", t, err)
		}
	}
	return out, nil
}
