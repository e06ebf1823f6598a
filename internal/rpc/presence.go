package rpc

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/presence"
)

// maxPresenceUsers bounds the users of one GetPresence call.
const maxPresenceUsers = 100

// Presence reads users' presence: presence.Local on one node,
// redislimit.Leases in a cluster.
type Presence interface {
	Presence(ctx context.Context, users []notify.UserID) ([]presence.State, error)
}

// PresenceServer implements herald.v1.PresenceService. Callers must have
// passed the service-key interceptor.
type PresenceServer struct {
	heraldv1.UnimplementedPresenceServiceServer
	p   Presence
	now func() time.Time
	log *slog.Logger
}

// NewPresenceServer returns a PresenceServer over p; now is the clock of
// an online user's last seen time (nil: time.Now).
func NewPresenceServer(p Presence, now func() time.Time, log *slog.Logger) *PresenceServer {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PresenceServer{p: p, now: now, log: log}
}

// GetPresence reports on each distinct user of the request, in the order
// of their first mention.
func (s *PresenceServer) GetPresence(ctx context.Context, req *heraldv1.GetPresenceRequest) (*heraldv1.GetPresenceResponse, error) {
	if _, err := sender(ctx); err != nil {
		return nil, err
	}
	var v violations
	users := v.usersUpTo("user_ids", req.GetUserIds(), maxPresenceUsers)
	if err := v.err(); err != nil {
		return nil, err
	}
	states, err := s.p.Presence(ctx, users)
	if err != nil {
		if errors.Is(err, notify.ErrUnavailable) {
			s.log.WarnContext(ctx, "request failed: unavailable", "method", "GetPresence", "err", err)
			return nil, status.Error(codes.Unavailable, "presence ("+dependency(err)+") temporarily unavailable; retry")
		}
		return nil, toStatus(ctx, s.log, "GetPresence", err)
	}
	now := timestamppb.New(s.now())
	out := &heraldv1.GetPresenceResponse{Users: make([]*heraldv1.UserPresence, len(states))}
	for i, st := range states {
		up := &heraldv1.UserPresence{UserId: string(st.User), Online: st.Online}
		switch {
		case st.Online:
			up.LastSeenTime = now
		case !st.LastSeen.IsZero():
			up.LastSeenTime = timestamppb.New(st.LastSeen)
		}
		out.Users[i] = up
	}
	return out, nil
}

// dependency names what an unavailable error says is down, never its
// address.
func dependency(err error) string {
	var ue *notify.UnavailableError
	if errors.As(err, &ue) {
		return ue.Dependency
	}
	return "store"
}
