package resume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// ErrChannelClash: two of the channels asked for share a ChannelHash,
	// so one cursor cannot name both; the client opens two streams.
	ErrChannelClash = errors.New("resume: two channels of the stream share a cursor hash")
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
	// WaitLive, when set, is called for each key of a stream after it
	// subscribed and before it opens, and blocks until entries committed
	// from then on reach the feed (in cluster mode: until the bus is
	// subscribed to the key's channel); a stream waits at most 2 s in all.
	WaitLive func(ctx context.Context, key notify.UserID) error
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
	// User is whose inbox the stream carries, and whose stream limit it
	// counts against; empty for a stream of channels only.
	User notify.UserID
	// Channels are the channels the stream carries besides the inbox,
	// each once.
	Channels []notify.Channel
	// After is the client's cursor; with Resume false the stream sends
	// live entries only. A source the cursor does not hold starts live.
	After  Position
	Resume bool
	// Expiry is when the client's credential expires; zero never.
	Expiry time.Time
}

// Open admits a stream for req (the user's limit, shutdown), subscribes it
// and waits until it is live, bounded by ctx and 2 s. The caller must then
// call exactly one of Run and Abort.
func (e *Engine) Open(ctx context.Context, req Request) (*Stream, error) {
	s, err := newStream(e, req)
	if err != nil {
		return nil, err
	}
	release := func() {}
	if e.cfg.Limiter != nil && req.User != "" {
		var ok bool
		if release, ok = e.cfg.Limiter.Acquire(ctx, req.User); !ok {
			return nil, ErrTooManyStreams
		}
	}
	if !e.enter() {
		release()
		return nil, ErrShuttingDown
	}
	s.release = release
	// Subscribe before reading the store: whatever commits from now on is
	// queued, and whatever committed before is in the store. Entries in
	// both are skipped by cursor.
	var more []notify.UserID
	if len(s.srcs) > 1 {
		more = make([]notify.UserID, 0, len(s.srcs)-1)
		for _, src := range s.srcs[1:] {
			more = append(more, src.key)
		}
	}
	s.feed = e.cfg.Source.Subscribe(s.srcs[0].key, more, e.cfg.QueueSize)
	if e.cfg.WaitLive != nil {
		e.waitLive(ctx, s.srcs)
	}
	for i := range s.srcs {
		// A stream of several sources reads every start position: an
		// event of one carries the others' positions in its cursor, and an
		// unknown 0 there would replay a whole history on resume.
		if src := &s.srcs[i]; !src.resume && (e.cfg.WaitLive != nil || s.multi) {
			s.startLive(ctx, src)
		}
	}
	return s, nil
}

// newStream lays out the sources of req: the inbox first, then the
// channels in ascending hash order, the order of the cursor's wire form.
func newStream(e *Engine, req Request) (*Stream, error) {
	s := &Stream{
		e:      e,
		user:   req.User,
		expiry: req.Expiry,
		multi:  req.User == "" || len(req.Channels) > 0,
	}
	n := len(req.Channels)
	if req.User != "" {
		n++
	}
	if n == 1 {
		s.srcs = s.one[:]
	} else {
		s.srcs = make([]source, 0, n)
	}
	s.srcs = s.srcs[:0]
	if req.User != "" {
		src := source{key: req.User}
		if req.Resume && req.After.HasInbox {
			src.last, src.known, src.resume = req.After.Inbox, true, true
		}
		s.srcs = append(s.srcs, src)
	}
	first := len(s.srcs)
	for _, ch := range req.Channels {
		src := source{key: ch.Key(), channel: ch, hash: ChannelHash(ch)}
		if off, ok := req.After.Offset(src.hash); ok && req.Resume {
			src.last, src.known, src.resume = off, true, true
		}
		s.srcs = append(s.srcs, src)
	}
	chans := s.srcs[first:]
	slices.SortFunc(chans, func(a, b source) int { return cmp.Compare(a.hash, b.hash) })
	for i := 1; i < len(chans); i++ {
		if chans[i].hash == chans[i-1].hash {
			return nil, fmt.Errorf("%w: %q and %q", ErrChannelClash, chans[i-1].channel, chans[i].channel)
		}
	}
	if len(s.srcs) == 0 {
		return nil, errors.New("resume: a stream needs a user or a channel")
	}
	return s, nil
}

// startLive puts a source that starts live at the store's newest position,
// read once the bus confirmed its key: in a cluster, entries committed from
// then on by several nodes may arrive out of order, and the first to arrive
// must not hide an earlier one as already sent. Everything after this
// position is the client's; a gap before the first live entry is read from
// the store. On one node the feed of an inbox-only stream is in cursor
// order and needs none of this.
func (s *Stream) startLive(ctx context.Context, src *source) {
	last, err := s.e.cfg.Source.Last(ctx, src.key)
	if err != nil {
		// The source goes live unanchored, as an inbox does on one node.
		s.e.cfg.Logger.WarnContext(ctx, "live stream starts without the store's newest position", "user_id", string(s.user), "channel", string(src.channel), "error", err)
		return
	}
	src.last, src.known = last, true
}

// waitLive waits until the keys of srcs are live, 2 s at most for all.
func (e *Engine) waitLive(ctx context.Context, srcs []source) {
	wctx, cancel := context.WithTimeout(ctx, liveWait)
	defer cancel()
	for i := range srcs {
		key := srcs[i].key
		if err := e.cfg.WaitLive(wctx, key); err != nil && ctx.Err() == nil {
			e.cfg.Logger.WarnContext(ctx, "stream starts before the bus confirmed its key", "key", logKey(key), "error", err)
		}
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

// logKey is a key as logs show it: a user ID, or "channel:" and the name.
func logKey(key notify.UserID) string {
	if ch, ok := notify.ChannelOf(key); ok {
		return "channel:" + string(ch)
	}
	return string(key)
}
