package app

import (
	"github.com/heraldhq/herald/internal/config"
	"github.com/heraldhq/herald/internal/sse"
	"github.com/heraldhq/herald/internal/ticket"
)

// tickets returns where stream tickets are kept: with the Redis store, in
// Redis, so that a ticket one node issued opens a stream on any node; with
// the embedded store, in this node's memory.
func (a *App) tickets(cfg config.Config) sse.Tickets {
	o := ticket.Options{TTL: cfg.StreamTicketTTL}
	if a.rdb != nil {
		return ticket.NewRedis(a.rdb, ticket.RedisOptions{Options: o, Prefix: cfg.RedisPrefix, Timeout: cfg.StoreTimeout})
	}
	return ticket.NewMemory(ticket.MemoryOptions{Options: o})
}
