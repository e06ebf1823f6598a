package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storemetrics"
)

// Store is the embedded backend of store.Store.
type Store struct {
	opts    Options
	db      *pebble.DB
	cache   *bodyCache
	metrics *storemetrics.Metrics

	// mu guards closed and sending on reqs: Close takes it exclusively, so
	// no Append is between its check and its send when reqs is closed.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	sweeps chan chan error
	quit   chan struct{} // closed by Close
	done   chan struct{} // closed when the writer has exited

	// broken holds the error of a failed commit; see Ready.
	broken atomic.Pointer[error]

	// subMu serializes the read-check-writes of subscriptions and
	// preferences (subscriptions.go), which bypass the writer.
	subMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// request is one Append or Mark waiting for the writer.
type request struct {
	ds    []store.Delivery
	mark  *markRequest // set for a Mark
	state atomic.Int32
	reply chan reply // buffered: the writer never blocks on it
}

// markRequest is a Mark of one user's entries.
type markRequest struct {
	user notify.UserID
	mark store.Mark
}

// Request states: the writer takes a request only from queued, and Append
// abandons it only from queued, so exactly one of the two wins.
const (
	stateQueued int32 = iota
	stateTaken
	stateAbandoned
)

type reply struct {
	results []store.Result
	changed int           // of a mark
	counts  notify.Counts // of a mark
	err     error
}

// Open opens (or creates) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	m, err := storemetrics.New(opts.Registerer)
	if err != nil {
		return nil, err
	}
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		FS:                 opts.FS,
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log: opts.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	s := &Store{
		opts:    opts,
		db:      db,
		cache:   newBodyCache(opts.CacheSize),
		metrics: m,
		reqs:    make(chan *request, 1024),
		sweeps:  make(chan chan error),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	w := newWriter(s)
	go w.run()
	return s, nil
}

// Append implements store.Store. It returns once the entries are durable.
// If ctx ends while the request still waits for the writer, Append returns
// the context's error and nothing is stored; once the writer took the
// request, Append waits for its commit (one fsync away).
func (s *Store) Append(ctx context.Context, ds []store.Delivery) ([]store.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: append: %w", err)
	}
	for _, d := range ds {
		if d.Notification == nil || d.Notification.ID == "" {
			return nil, errors.New("store: append: delivery without notification ID")
		}
	}
	if len(ds) == 0 {
		return nil, s.Ready(ctx)
	}
	rep := s.do(ctx, "append", &request{ds: ds})
	return rep.results, rep.err
}

// do hands r to the writer and waits for its reply. If ctx ends while r
// still waits in the queue, r is abandoned and nothing happens; once the
// writer took it, do waits for its commit.
func (s *Store) do(ctx context.Context, op string, r *request) reply {
	r.reply = make(chan reply, 1)
	if err := s.enqueue(ctx, op, r); err != nil {
		return reply{err: err}
	}
	select {
	case rep := <-r.reply:
		return rep
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateAbandoned) {
			return reply{err: fmt.Errorf("store: %s: %w", op, ctx.Err())}
		}
		return <-r.reply
	}
}

func (s *Store) enqueue(ctx context.Context, op string, r *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("store: %s: %w", op, notify.ErrClosed)
	}
	select {
	case s.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: %s: %w", op, ctx.Err())
	}
}

// Sweep runs one full retention pass now and returns when it is done: it
// removes entries and bodies older than RetentionAge (raising the users'
// floors), bodies of expired notifications, and idempotency records older
// than the window. The store runs it every SweepInterval by itself.
func (s *Store) Sweep(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case s.sweeps <- done:
	case <-s.quit:
		return fmt.Errorf("store: sweep: %w", notify.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("store: sweep: %w", ctx.Err())
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("store: sweep: %w", ctx.Err())
	}
}

// Ready reports whether the store accepts appends. After a failed commit
// (a disk error) Pebble cannot commit again, so every Append fails with
// ErrUnavailable until the process reopens the store.
func (s *Store) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return fmt.Errorf("store: %w", notify.ErrClosed)
	}
	if err := s.broken.Load(); err != nil {
		return fmt.Errorf("store: %w: %w", notify.ErrUnavailable, *err)
	}
	return nil
}

// Close stops accepting appends, commits those already queued, stops the
// background sweep and closes the database. It is safe to call more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		close(s.quit)
		s.mu.Unlock()
		<-s.done
		s.closeErr = s.closeDB()
	})
	return s.closeErr
}

// closeDB closes Pebble, which may panic through Fatalf after a failed
// commit left it unusable.
func (s *Store) closeDB() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: close: %v", p)
		}
	}()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}
