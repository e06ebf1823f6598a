package embedded

import (
	"container/list"
	"sync"

	"github.com/heraldhq/herald/internal/notify"
)

// bodyCache keeps recently written or read notifications decoded, so that
// replays after a reconnect (which mostly ask for recent entries) neither
// read nor decode the same body once per user.
type bodyCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *notify.Notification
	byID  map[string]*list.Element
}

func newBodyCache(max int) *bodyCache {
	return &bodyCache{max: max, order: list.New(), byID: make(map[string]*list.Element, max)}
}

func (c *bodyCache) get(id string) *notify.Notification {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*notify.Notification)
}

func (c *bodyCache) add(n *notify.Notification) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[n.ID]; ok {
		e.Value = n
		c.order.MoveToFront(e)
		return
	}
	c.byID[n.ID] = c.order.PushFront(n)
	if c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byID, oldest.Value.(*notify.Notification).ID)
	}
}

func (c *bodyCache) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		c.order.Remove(e)
		delete(c.byID, id)
	}
}
