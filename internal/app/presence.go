package app

import (
	"github.com/heraldhq/herald/internal/presence"
	"github.com/heraldhq/herald/internal/rpc"
)

// presence returns what admits the streams of SSE and gRPC and what answers
// PresenceService. With Redis the stream leases every node keeps there
// answer, so a stream on any node counts; the stream limiter admits alone.
// On one node presence.Local wraps the limiter and counts this node's
// streams, and remembers last seen times in memory.
func (a *App) presence() (presence.Limiter, rpc.Presence) {
	if a.leases != nil {
		return a.streamN, a.leases
	}
	local := presence.NewLocal(a.streamN, nil)
	return local, local
}
