package app

import (
	"google.golang.org/grpc"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/rpc"
)

// inboxService serves herald.v1.InboxService from its two halves: the
// unary methods and Stream, which has its own lifecycle (Shutdown).
type inboxService struct {
	*rpc.InboxServer
	streams *rpc.StreamServer
}

// Stream is served by the StreamServer.
func (s inboxService) Stream(req *heraldv1.StreamRequest, ss grpc.ServerStreamingServer[heraldv1.StreamResponse]) error {
	return s.streams.Stream(req, ss)
}
