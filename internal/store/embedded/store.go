package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/heraldhq/herald/internal/bound"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storemetrics"
)

// Store is the embedded backend of store.Store.
type Store struct {
	dir     string
	opts    Options
	cache   *bodyCache
	metrics *storemetrics.Metrics
	// bounds hides entries from readers until their WAL sync ends.
	bounds *durableBounds

	// db is the open database: the writable one; after a disk fault, until
	// a writable reopen succeeds, the broken one and then a read-only one
	// (see writer.reopen); nil when neither could be opened and after
	// Close. The writer goroutine swaps it under dbMu's write lock;
	// everyone else uses it under a read lock (hold).
	dbMu sync.RWMutex
	db   *pebble.DB
	// lock is the data directory's lock, held from Open to Close, so that
	// no other process takes the directory while a reopen has it closed.
	lock *pebble.Lock

	// mu guards closed and sending on reqs: Close takes it exclusively, so
	// no Append is between its check and its send when reqs is closed.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	sweeps chan chan error
	quit   chan struct{} // closed by Close
	done   chan struct{} // closed when the writer has exited

	// broken holds the error of a failed commit, until the writer has
	// reopened the database; see Ready. wake tells the writer that a commit
	// failed, so that it starts reopening.
	broken atomic.Pointer[error]
	wake   chan struct{}
	probe  probeState
	// commitMu serializes commits; see commitBatch.
	commitMu sync.Mutex

	// subMu serializes the read-check-writes of subscriptions and
	// preferences (subscriptions.go), which bypass the writer.
	subMu sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// request is one Append, Publish or Mark waiting for the writer.
type request struct {
	ds    []store.Delivery
	pub   *pubRequest   // set for a Publish
	mark  *markRequest  // set for a Mark
	hold  chan struct{} // tests: the writer waits for it to close
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
	offsets []notify.Cursor // of a publish
	changed int             // of a mark
	counts  notify.Counts   // of a mark
	err     error
}

// Open opens (or creates) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	m := storemetrics.New(opts.Registerer, opts.Logger)
	lock, err := lockDir(dir, opts)
	if err != nil {
		return nil, err
	}
	db, err := openDB(dir, opts, lock, false)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	s := &Store{
		dir:     dir,
		opts:    opts,
		db:      db,
		lock:    lock,
		cache:   newBodyCache(opts.CacheSize),
		bounds:  newDurableBounds(),
		metrics: m,
		reqs:    make(chan *request, 1024),
		sweeps:  make(chan chan error),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	w := newWriter(s)
	go w.run()
	return s, nil
}

// DefaultMemTableSize is Pebble's memtable size, and so the size it
// preallocates each WAL file to (plus a tenth); Pebble keeps up to three
// used WAL files for reuse besides the live one. That is the disk a store
// takes before its data, and what a full disk must give back before the
// store can reopen. 64 MB cost 72 MB per WAL file and about 290 MB in all.
// 2 MB costs 9.5 MB, but flushes so often that a topic fan-out to 10,000
// streams ran at half the deliveries/s (52,600 against 95,700, load tool)
// and per-user notifications cost 5 % more CPU. 16 MB still takes a fan-out
// of 100,000 entries (about 10 MB) in one memtable and measured as 64 MB
// did (94,900 deliveries/s), for at most about 70 MB of WAL files.
// Options.MemTableSize (--store-memtable-mb) trades either way.
const DefaultMemTableSize = 16 << 20

// lockDir creates dir if need be and takes its lock, which the Store
// holds until Close and passes to every open of the database.
func lockDir(dir string, opts Options) (*pebble.Lock, error) {
	if err := opts.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	lock, err := pebble.LockDirectory(dir, opts.FS)
	if err != nil {
		if locked(err) {
			return nil, fmt.Errorf("store: open %s: %w (lock %s): %w", dir, ErrLocked, filepath.Join(dir, lockFile), err)
		}
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return lock, nil
}

// openDB opens Pebble in dir, under the directory's lock. Opening replays
// the WAL, so it also serves to reopen the database after a disk fault.
//
// A read-only open writes nothing: it replays the WAL into memory and runs
// no flush or compaction, so it works on a full disk. It takes no lock (lock
// is nil): it serves reads while the writable database is opened beside it
// under the lock the Store holds (see writer.reopen), and Pebble lets one
// database at a time use a lock.
func openDB(dir string, opts Options, lock *pebble.Lock, readOnly bool) (db *pebble.DB, err error) {
	defer func() {
		// Pebble reports some failed writes of its MANIFEST through Fatalf.
		if p := recover(); p != nil {
			f, ok := p.(pebbleFatal)
			if !ok {
				panic(p)
			}
			db, err = nil, fmt.Errorf("store: open %s: %w", dir, f)
		}
	}()
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()
	files := opts.FS
	if readOnly {
		files = unlockedFS{files}
	}
	po := &pebble.Options{
		FS:                 files,
		Cache:              cache,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{log: opts.Logger, limit: opts.warnLimit},
		MemTableSize:       uint64(opts.MemTableSize),
		Lock:               lock,
		ReadOnly:           readOnly,
	}
	db, err = pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return db, nil
}

// unlockedFS is a file system whose locks are no-ops, for the read-only
// database.
type unlockedFS struct{ vfs.FS }

func (unlockedFS) Lock(string) (io.Closer, error) { return noLock{}, nil }

type noLock struct{}

func (noLock) Close() error { return nil }

// ErrLocked means another process, or another Store of this one, has the
// directory open: Pebble takes a lock on its LOCK file for as long as a
// database is open, so that two writers never share one.
var ErrLocked = errors.New("data directory in use by another process")

// lockFile is the file in a Pebble directory that the open database locks.
const lockFile = "LOCK"

// locked reports whether err, from pebble.Open, is the refusal of its
// directory lock. Pebble returns the errno of fcntl(F_SETLK) unwrapped,
// EAGAIN on Linux and EACCES where POSIX allows it, while a LOCK file that
// cannot be created comes as an *fs.PathError; a second open within one
// process fails on Pebble's own table of locked files first.
func locked(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// hold keeps the database open for a read, or a write outside the writer,
// until release: a reopen and Close wait for it. After a disk fault the
// database it holds may be the broken or a read-only one, which serve
// reads; writes check brokenErr under the hold. It fails with
// ErrUnavailable when no database could be opened. Calls must not nest (a
// waiting reopen would deadlock them).
func (s *Store) hold() (release func(), err error) {
	s.dbMu.RLock()
	if s.db != nil {
		return s.dbMu.RUnlock, nil
	}
	s.dbMu.RUnlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, notify.ErrClosed
	}
	return nil, fmt.Errorf("%w: %w", notify.ErrUnavailable, errReopening)
}

var errReopening = errors.New("database could not be reopened after a disk fault")

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
// writer took it, do waits for its commit. A bound that store.Bounded set
// on ctx (bound.Expired) ends the wait either way, for a stalled disk must
// not hold callers: a request the writer took may then still commit.
func (s *Store) do(ctx context.Context, op string, r *request) reply {
	// The writer fails it anyway, but may be busy reopening the database.
	if err := s.brokenErr(); err != nil {
		return reply{err: fmt.Errorf("store: %s: %w: %w", op, notify.ErrUnavailable, err)}
	}
	r.reply = make(chan reply, 1)
	expired := bound.Expired(ctx)
	if err := s.enqueue(ctx, op, r, expired); err != nil {
		return reply{err: err}
	}
	select {
	case rep := <-r.reply:
		return rep
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateAbandoned) {
			return reply{err: fmt.Errorf("store: %s: %w", op, ctx.Err())}
		}
	case <-expired:
		r.state.CompareAndSwap(stateQueued, stateAbandoned)
		return reply{err: fmt.Errorf("store: %s: %w", op, bound.Timeout(ctx))}
	}
	select {
	case rep := <-r.reply:
		return rep
	case <-expired:
		return reply{err: fmt.Errorf("store: %s: %w", op, bound.Timeout(ctx))}
	}
}

func (s *Store) enqueue(ctx context.Context, op string, r *request, expired <-chan struct{}) error {
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
	case <-expired:
		return fmt.Errorf("store: %s: %w", op, bound.Timeout(ctx))
	}
}

// WaitsWatchBound tells store.Bounded that Append, Publish and Mark block
// only in do, which watches the bound, so they need no goroutine of their
// own to answer by it.
func (*Store) WaitsWatchBound() {}

// Sweep runs one full retention pass now and returns when it is done: it
// removes entries and bodies older than RetentionAge (raising the users'
// floors), bodies of expired notifications, idempotency records older
// than the window, and channel events older than ChannelHistoryAge (a
// channel with none left goes whole). The store runs it every SweepInterval by itself.
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
// (a disk error) Pebble cannot commit again: every Append fails with
// ErrUnavailable until the writer has reopened the database (see
// writer.reopen). While nothing failed, Ready commits a small synced probe
// (at most once per probeEvery), so that a full or failing disk shows
// before a notification meets it.
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
	return s.probeWrite()
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
		s.dbMu.Lock()
		defer s.dbMu.Unlock()
		if s.db != nil {
			s.closeErr = closeDB(s.db)
			s.db = nil
		}
		if err := s.lock.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// closeDB closes Pebble, which may panic through Fatalf after a failed
// commit left it unusable.
func closeDB(db *pebble.DB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: close: %v", p)
		}
	}()
	if err := db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// commitBatch commits b. Commits are serialized, and none is tried once one
// failed: Pebble leaves a batch whose WAL write failed in its commit queue,
// and a batch committed after it would wait for it forever. The error of a
// failed commit, or of the one that broke the database, is returned as it
// is; callers wrap it with ErrUnavailable.
func (s *Store) commitBatch(b *pebble.Batch, opts *pebble.WriteOptions) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.commitLocked(b, opts)
}

// commitLocked is commitBatch with commitMu held.
func (s *Store) commitLocked(b *pebble.Batch, opts *pebble.WriteOptions) error {
	if err := s.broken.Load(); err != nil {
		return *err
	}
	if err := commit(b, opts); err != nil {
		s.markBroken(err)
		return err
	}
	return nil
}

// brokenErr is the error of the failed commit that broke the database, or
// nil.
func (s *Store) brokenErr() error {
	if err := s.broken.Load(); err != nil {
		return *err
	}
	return nil
}

// markBroken records the failed commit err and wakes the writer, which
// reopens the database.
func (s *Store) markBroken(err error) {
	if s.broken.CompareAndSwap(nil, &err) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}
