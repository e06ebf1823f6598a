package resume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// Errors of Open, which a transport answers in its own terms.
var (
	// ErrTooManyStreams: the user has as many streams open as allowed.
	ErrTooManyStreams = errors.New("resume: too many open streams for this user")
	// ErrShuttingDown: the engine takes no new streams.
	ErrShuttingDown = errors.New("resume: shutting down")
	// ErrWriteTimeout is the cause a sink gives the stream's context when
	// a write outlived its deadline, so that the stream ends as a write
	// error rather than as a client that left.
	ErrWriteTimeout = errors.New("resume: write timed out")
)

// Limiter bounds a user's open streams; limit.Streams implements it.
type Limiter interface {
	// Acquire counts a new stream of user, or reports false when the user
	// has too many open; release is called when the stream ends. ctx
	// bounds a limiter that asks another process (in a cluster: Redis).
	Acquire(ctx context.Context, user notify.UserID) (release func(), ok bool)
}

// Defaults for zero Config fields.
const (
	DefaultQueueSize   = 256
	DefaultReplayBatch = 256
)

// liveWait bounds how long a new stream waits to be live; past it the
// stream starts anyway, and an entry missed in between arrives with the
// user's next one (gap fill) or on reconnect.
const liveWait = 2 * time.Second

// Config configures an Engine. Source and Metrics are required.
type Config struct {
	Source Source
	// WaitLive, when set, is called after a stream subscribed and before
	// it opens, and blocks until entries committed from then on reach the
	// feed (in cluster mode: until the bus is subscribed to the user's
	// channel); a stream waits at most 2 s.
	WaitLive func(ctx context.Context, user notify.UserID) error
	// Limiter, when set, bounds each user's open streams.
	Limiter Limiter
	// Heartbeat is the interval of keep-alives on an idle stream; zero
	// sends none (a transport with keep-alives of its own).
	Heartbeat time.Duration
	// QueueSize is each stream's live queue (default 256): a stream that
	// falls this far behind is evicted and resumes from its cursor.
	QueueSize int
	// ReplayBatch is how many entries a stream reads per store call
	// (default 256).
	ReplayBatch int
	Metrics     *Metrics
	// Logger is told why streams ended; nil discards.
	Logger *slog.Logger
}

// Engine runs one transport's streams.
type Engine struct {
	cfg Config

	mu      sync.Mutex
	closing bool
	// shutdown is cancelled by Drain; each stream ends its feed then
	// (context.AfterFunc), so that its loop waits on fewer channels.
	shutdown   context.Context
	endStreams context.CancelFunc
	streams    sync.WaitGroup
}

// New returns an engine for cfg.
func New(cfg Config) *Engine {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.ReplayBatch <= 0 {
		cfg.ReplayBatch = DefaultReplayBatch
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, "", nil)
	}
	e := &Engine{cfg: cfg}
	e.shutdown, e.endStreams = context.WithCancel(context.Background())
	return e
}

// Request is what a client asks of a stream.
type Request struct {
	User notify.UserID
	// After is the client's cursor; with Resume false the stream sends
	// live entries only.
	After  notify.Cursor
	Resume bool
	// Expiry is when the client's credential expires; zero never.
	Expiry time.Time
}

// Open admits a stream for req (the user's limit, shutdown), subscribes it
// and waits until it is live, bounded by ctx and 2 s. The caller must then
// call exactly one of Run and Abort.
func (e *Engine) Open(ctx context.Context, req Request) (*Stream, error) {
	release := func() {}
	if e.cfg.Limiter != nil {
		var ok bool
		if release, ok = e.cfg.Limiter.Acquire(ctx, req.User); !ok {
			return nil, ErrTooManyStreams
		}
	}
	if !e.enter() {
		release()
		return nil, ErrShuttingDown
	}
	// Subscribe before reading the store: whatever commits from now on is
	// queued, and whatever committed before is in the store. Entries in
	// both are skipped by cursor.
	feed := e.cfg.Source.Subscribe(req.User, e.cfg.QueueSize)
	s := &Stream{
		e:       e,
		feed:    feed,
		user:    req.User,
		last:    req.After,
		known:   req.Resume,
		resume:  req.Resume,
		expiry:  req.Expiry,
		release: release,
	}
	if e.cfg.WaitLive != nil {
		e.waitLive(ctx, req.User)
		if !req.Resume {
			s.startLive(ctx)
		}
	}
	return s, nil
}

// startLive puts a live-only stream at the store's newest cursor, read once
// the bus confirmed the user: in a cluster, entries committed from then on
// by several nodes may arrive out of order, and the first to arrive must
// not hide an earlier one as already sent. Everything after this cursor is
// the client's; a gap before the first live entry is read from the store.
// On one node the feed is in cursor order and needs none of this.
func (s *Stream) startLive(ctx context.Context) {
	last, err := s.e.cfg.Source.Last(ctx, s.user)
	if err != nil {
		// The stream goes live unanchored, as it would on one node.
		s.e.cfg.Logger.WarnContext(ctx, "live stream starts without the store's newest cursor", "user_id", string(s.user), "error", err)
		return
	}
	s.last, s.known = last, true
}

func (e *Engine) waitLive(ctx context.Context, user notify.UserID) {
	if e.cfg.WaitLive == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, liveWait)
	defer cancel()
	if err := e.cfg.WaitLive(wctx, user); err != nil && ctx.Err() == nil {
		e.cfg.Logger.WarnContext(ctx, "stream starts before the bus confirmed its user", "user_id", string(user), "error", err)
	}
}

// enter counts a new stream unless shutdown has begun.
func (e *Engine) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.streams.Add(1)
	return true
}

// Drain refuses new streams and ends every open one with a Shutdown
// control event; it does not wait.
func (e *Engine) Drain() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closing {
		e.closing = true
		e.endStreams()
	}
}

// Shutdown drains the engine and waits until its streams have ended or ctx
// is done.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.Drain()
	done := make(chan struct{})
	go func() {
		e.streams.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("resume: shutdown: %w", ctx.Err())
	}
}
