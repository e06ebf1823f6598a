package rpc

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/hub"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/resume"
	"github.com/heraldhq/herald/internal/validate"
)

// StreamStore is what a stream reads: the replay after a cursor and the
// newest cursor, for a reset.
type StreamStore interface {
	Read(ctx context.Context, user notify.UserID, after notify.Cursor, limit int) ([]notify.Entry, error)
	Last(ctx context.Context, user notify.UserID) (notify.Cursor, error)
}

// Subscriber hands out live subscriptions; *hub.Hub implements it.
type Subscriber interface {
	SubscribeAll(key notify.UserID, more []notify.UserID, queueSize int) *hub.Subscription
}

// StreamLimiter bounds a user's open streams, shared with SSE;
// limit.Streams implements it.
type StreamLimiter interface {
	// Acquire counts a new stream of user, or reports false when the user
	// has too many open; release is called when the stream ends.
	Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool)
}

// DefaultStreamWriteTimeout bounds a batch of Sends by default.
const DefaultStreamWriteTimeout = 10 * time.Second

// StreamConfig configures a StreamServer. Zero values mean defaults.
type StreamConfig struct {
	Store StreamStore
	Hub   Subscriber
	// Channels are the channels' histories; nil serves no channels.
	Channels resume.ChannelStore
	// ChannelPolicy says who may listen to which channel.
	ChannelPolicy auth.ChannelPolicy
	// MaxChannels bounds the channels of one stream (default 16).
	MaxChannels int
	// WaitLive, when set, blocks until entries committed from the call on
	// reach the hub (in cluster mode: the bus is subscribed to the user);
	// a stream waits for it, at most 2 s, before it sends headers.
	WaitLive    func(ctx context.Context, user notify.UserID) error
	Streams     StreamLimiter // when set, one stream over a user's limit is refused
	QueueSize   int           // events queued per stream before it is dropped; default 256
	ReplayBatch int           // entries read from the store at a time; default 256
	// WriteTimeout bounds each batch of Sends (default 10 s), so that a
	// client that stopped reading gives its slot back; it takes effect on
	// servers built with the StreamDeadlines option.
	WriteTimeout time.Duration
	// Registerer receives herald_stream_*{transport="grpc"}; nil
	// registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// StreamServer serves InboxService.Stream: the gRPC twin of GET /v1/stream,
// with the same resume semantics, run by the same engine (package resume).
// Idle streams are kept in check by the transport's keepalive pings (see
// app), not by messages on the stream.
type StreamServer struct {
	cfg    StreamConfig
	engine *resume.Engine
}

// NewStreamServer returns a StreamServer.
func NewStreamServer(cfg StreamConfig) *StreamServer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultStreamWriteTimeout
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 16
	}
	return &StreamServer{cfg: cfg, engine: resume.New(resume.Config{
		Source:      resume.Stored{Store: cfg.Store, Channels: cfg.Channels, Hub: cfg.Hub},
		WaitLive:    cfg.WaitLive,
		Limiter:     cfg.Streams,
		QueueSize:   cfg.QueueSize,
		ReplayBatch: cfg.ReplayBatch,
		Metrics:     resume.NewMetrics(cfg.Registerer, "grpc", cfg.Logger),
		Logger:      cfg.Logger.With("transport", "grpc"),
	})}
}

// Shutdown refuses new streams and ends every open one with UNAVAILABLE, so
// that clients resume on another node or after a restart;
// grpc.Server.GracefulStop would otherwise wait for streams that never end
// by themselves.
func (s *StreamServer) Shutdown() { s.engine.Drain() }

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
	channels, err := s.channels(&claims, req.GetChannels())
	if err != nil {
		return err
	}
	var after resume.Position
	resumed := req.GetCursor() != ""
	if resumed {
		p, err := resume.ParsePosition(req.GetCursor())
		if err != nil {
			return invalidArgument(&validate.Error{Violations: []validate.FieldViolation{
				{Field: "cursor", Description: "must be the cursor of an earlier event of this stream"},
			}})
		}
		after = p
	}

	st, err := s.engine.Open(ctx, resume.Request{User: claims.User, Channels: channels, After: after, Resume: resumed, Expiry: claims.Expiry})
	switch {
	case errors.Is(err, resume.ErrTooManyStreams):
		// Refused rather than closing an older stream: see package limit.
		return status.Error(codes.ResourceExhausted, "too many open streams for this user; close one first")
	case errors.Is(err, resume.ErrChannelClash):
		return invalidArgument(&validate.Error{Violations: []validate.FieldViolation{
			{Field: "channels", Description: err.Error() + "; stream them apart"},
		}})
	case err != nil:
		return errShuttingDown
	}
	out := &streamSink{ss: ss, cancel: sendCancel(ctx), timeout: s.cfg.WriteTimeout}
	defer out.stop()
	reason, err := st.Run(ctx, out)
	return streamEnd(ctx, reason, err)
}

// channels checks the channels a stream asks for against the policy.
func (s *StreamServer) channels(claims *auth.Claims, names []string) ([]notify.Channel, error) {
	if len(names) > 0 && s.cfg.Channels == nil {
		return nil, status.Error(codes.Unimplemented, "this server streams no channels")
	}
	channels, err := s.cfg.ChannelPolicy.Listen(claims, names, s.cfg.MaxChannels)
	switch {
	case err == nil:
		return channels, nil
	case errors.Is(err, auth.ErrChannelDenied):
		return nil, status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, notify.ErrBadChannel):
		return nil, invalidArgument(&validate.Error{Violations: []validate.FieldViolation{
			{Field: "channels", Description: err.Error() + " (names are ASCII letters, digits and ._-/:, at most 200 bytes)"},
		}})
	}
	return nil, invalidArgument(&validate.Error{Violations: []validate.FieldViolation{
		{Field: "channels", Description: err.Error()},
	}})
}

var errShuttingDown = status.Error(codes.Unavailable, "server shutting down; resume from your last cursor")

// streamEnd is the status a stream that ended for reason returns.
func streamEnd(ctx context.Context, reason resume.Reason, err error) error {
	switch reason {
	case resume.ReasonClientGone:
		return status.FromContextError(ctx.Err()).Err()
	case resume.ReasonTokenExpired:
		return status.Error(codes.Unauthenticated, "token expired; reconnect with a new token and your last cursor")
	case resume.ReasonSlowConsumer:
		return status.Error(codes.Unavailable, "stream fell too far behind; resume from your last cursor")
	case resume.ReasonStoreError:
		return status.Error(codes.Unavailable, unavailable(err)+"; retry with your last cursor")
	case resume.ReasonWriteError:
		if errors.Is(context.Cause(ctx), resume.ErrWriteTimeout) {
			return status.Error(codes.Unavailable, "stream not read in time; resume from your last cursor")
		}
		return err
	}
	return errShuttingDown // shutdown, hub closed
}
