package rpc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
)

// StreamStore is what a stream reads: the replay after a cursor and the
// newest cursor, for a reset.
type StreamStore interface {
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
}

// Subscriber hands out live subscriptions; *hub.Hub implements it.
type Subscriber interface {
	Subscribe(user notify.UserID, queueSize int) *hub.Subscription
}

// StreamLimiter bounds a user's open streams, shared with SSE;
// limit.Streams implements it.
type StreamLimiter interface {
	// Acquire counts a new stream of user, or reports false when the user
	// has too many open; release is called when the stream ends.
	Acquire(user notify.UserID) (release func(), ok bool)
}

// StreamConfig configures a StreamServer. Zero values mean defaults.
type StreamConfig struct {
	Store StreamStore
	Hub   Subscriber
	// WaitLive, when set, blocks until entries committed from the call on
	// reach the hub (in cluster mode: the bus is subscribed to the user);
	// a stream waits for it, at most liveWait, before it sends headers.
	WaitLive    func(ctx context.Context, user notify.UserID) error
	Streams     StreamLimiter // when set, one stream over a user's limit is refused
	QueueSize   int           // events queued per stream before it is dropped; default 256
	ReplayBatch int           // entries read from the store at a time; default 256
	Logger      *slog.Logger
}

// StreamServer serves InboxService.Stream: the gRPC twin of GET /v1/stream,
// with the same resume semantics.
type StreamServer struct {
	cfg          StreamConfig
	shutdown     chan struct{}
	shutdownOnce sync.Once
}

// NewStreamServer returns a StreamServer.
func NewStreamServer(cfg StreamConfig) *StreamServer {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.ReplayBatch <= 0 {
		cfg.ReplayBatch = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &StreamServer{cfg: cfg, shutdown: make(chan struct{})}
}

// Shutdown ends every stream with UNAVAILABLE, so that clients resume on
// another node or after a restart; grpc.Server.GracefulStop would otherwise
// wait for streams that never end by themselves.
func (s *StreamServer) Shutdown() {
	s.shutdownOnce.Do(func() { close(s.shutdown) })
}

// Stream sends the caller's entries after req.cursor, then live ones. An
// empty cursor streams new entries only. The stream subscribes before it
// reads the store, so nothing committed meanwhile falls between replay and
// live; entries in both are sent once, by cursor. It ends with UNAVAILABLE
// when the client falls too far behind or the server shuts down (resume
// from the last cursor), and with UNAUTHENTICATED when the token expires.
func (s *StreamServer) Stream(req *heraldv1.StreamRequest, ss grpc.ServerStreamingServer[heraldv1.StreamResponse]) error {
	ctx := ss.Context()
	claims, ok := auth.ClaimsFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "a user token is required")
	}
	var after notify.Cursor
	resume := req.GetCursor() != ""
	if resume {
		c, err := notify.ParseCursor(req.GetCursor())
		if err != nil {
			return invalidArgument(&ingest.ValidationError{Violations: []ingest.FieldViolation{
				{Field: "cursor", Description: "must be the cursor of an earlier event (decimal digits)"},
			}})
		}
		after = c
	}

	if s.cfg.Streams != nil {
		release, ok := s.cfg.Streams.Acquire(claims.User)
		if !ok {
			// Refused rather than closing an older stream: see package limit.
			return status.Error(codes.ResourceExhausted, "too many open streams for this user; close one first")
		}
		defer release()
	}
	sub := s.cfg.Hub.Subscribe(claims.User, s.cfg.QueueSize)
	defer sub.Close()
	if s.cfg.WaitLive != nil {
		wctx, cancel := context.WithTimeout(ctx, liveWait)
		if err := s.cfg.WaitLive(wctx, claims.User); err != nil && ctx.Err() == nil {
			s.cfg.Logger.WarnContext(ctx, "grpc stream starts before the bus confirmed its user", "user_id", string(claims.User), "err", err)
		}
		cancel()
	}
	// Headers tell the client that the stream is live: whatever is
	// committed from now on reaches it.
	if err := ss.SendHeader(nil); err != nil {
		return err
	}
	st := &grpcStream{s: s, ss: ss, sub: sub, user: claims.User, ctx: ctx, last: after, known: resume}
	if resume {
		if err := st.replay(); err != nil {
			return err
		}
	}
	return st.live(claims.Expiry)
}

// grpcStream is one open Stream call.
type grpcStream struct {
	s    *StreamServer
	ss   grpc.ServerStreamingServer[heraldv1.StreamResponse]
	sub  *hub.Subscription
	user notify.UserID
	ctx  context.Context
	last notify.Cursor
	// known is set once last is the client's real position (a resume, or
	// an entry sent): only then does a jump in cursors mean a gap.
	known bool
}

// readStored reads a batch of stored entries after st.last. When the cursor
// is older than the retained history it sends the reset instead and returns
// no entries.
func (st *grpcStream) readStored() ([]notify.Entry, error) {
	entries, err := st.s.cfg.Store.Read(st.ctx, st.user, st.last, st.s.cfg.ReplayBatch)
	switch {
	case errors.Is(err, notify.ErrCursorExpired):
		return nil, st.reset()
	case err != nil:
		return nil, st.storeError(err)
	}
	return entries, nil
}

func (st *grpcStream) replay() error {
	for {
		entries, err := st.readStored()
		if err != nil || len(entries) == 0 {
			return err
		}
		for i := range entries {
			if err := st.send(&entries[i]); err != nil {
				return err
			}
		}
		select {
		case <-st.s.shutdown:
			return errShuttingDown
		case <-st.sub.Done():
			return st.evicted()
		default:
		}
	}
}

// reset tells the client its cursor is older than the retained history and
// goes on live from the newest cursor.
func (st *grpcStream) reset() error {
	last, err := st.s.cfg.Store.Last(st.ctx, st.user)
	if err != nil {
		return st.storeError(err)
	}
	st.last = last
	return st.ss.Send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Reset_{
		Reset_: &heraldv1.StreamReset{Reason: "cursor_expired"},
	}})
}

func (st *grpcStream) live(expiry time.Time) error {
	var expired <-chan time.Time
	if !expiry.IsZero() {
		t := time.NewTimer(time.Until(expiry))
		defer t.Stop()
		expired = t.C
	}
	var batch []*notify.Entry
	for {
		select {
		case <-st.sub.Ready():
			batch = st.sub.Take(batch)
			for _, e := range batch {
				if e.Counts == nil && st.known && e.Cursor > st.last+1 {
					if err := st.fill(e.Cursor); err != nil {
						return err
					}
				}
				if err := st.send(e); err != nil {
					return err
				}
			}
		case <-expired:
			return status.Error(codes.Unauthenticated, "token expired; reconnect with a new token and your last cursor")
		case <-st.s.shutdown:
			return errShuttingDown
		case <-st.sub.Done():
			return st.evicted()
		case <-st.ctx.Done():
			return status.FromContextError(st.ctx.Err()).Err()
		}
	}
}

// fill sends the stored entries after st.last and before target. In a
// cluster, live entries reach a node over a bus that may lose them or,
// coming from several nodes, reorder them: an entry beyond last+1 means the
// client misses some, and they are in the store.
func (st *grpcStream) fill(target notify.Cursor) error {
	for st.last < target-1 {
		// Expired entries are left out, so the store may have nothing
		// more before target.
		entries, err := st.readStored()
		if err != nil || len(entries) == 0 {
			return err
		}
		for i := range entries {
			if entries[i].Cursor >= target {
				return nil
			}
			if err := st.send(&entries[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// send sends e unless the client already has it; read-state events have
// no cursor and always go.
func (st *grpcStream) send(e *notify.Entry) error {
	if e.Counts != nil {
		return st.ss.Send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Read{
			Read: &heraldv1.InboxCounts{Unread: int32(e.Counts.Unread), Unseen: int32(e.Counts.Unseen)},
		}})
	}
	if e.Cursor <= st.last {
		return nil
	}
	if err := st.ss.Send(&heraldv1.StreamResponse{Kind: &heraldv1.StreamResponse_Event{Event: eventOf(*e)}}); err != nil {
		return err
	}
	st.last = e.Cursor
	st.known = true
	return nil
}

// liveWait bounds how long a new stream waits to be live; past it the
// stream starts anyway, and an entry missed in between arrives with the
// user's next one (gap fill) or on reconnect.
const liveWait = 2 * time.Second

var errShuttingDown = status.Error(codes.Unavailable, "server shutting down; resume from your last cursor")

func (st *grpcStream) evicted() error {
	if errors.Is(st.sub.Err(), hub.ErrSlowConsumer) {
		return status.Error(codes.Unavailable, "stream fell too far behind; resume from your last cursor")
	}
	return errShuttingDown
}

func (st *grpcStream) storeError(err error) error {
	if st.ctx.Err() != nil {
		return status.FromContextError(st.ctx.Err()).Err()
	}
	st.s.cfg.Logger.WarnContext(st.ctx, "grpc stream: store read failed", "user_id", string(st.user), "err", err)
	return status.Error(codes.Unavailable, unavailable(err)+"; retry with your last cursor")
}
