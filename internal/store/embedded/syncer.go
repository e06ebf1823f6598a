package embedded

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// maxInflight bounds the groups applied to the database whose WAL sync the
// syncer still waits for; the writer waits when that many are pending.
const maxInflight = 16

// inflight is a group applied to the database and waiting for its WAL sync:
// only then are its callers answered and its entries published.
type inflight struct {
	b       *pebble.Batch
	taken   []*request
	results [][]store.Result
	offsets [][]notify.Cursor // of publishes, by request; nil without any
	entries []notify.Entry
	spans   []span // one per user, for the durable bounds
	gen     uint64 // the writer's database generation it was applied in
	start   time.Time
	dups    int
}

// syncer lets the writer build and apply the next group while the WAL sync
// of the previous one is under way. Pebble makes an applied batch visible
// at once and syncs the WAL behind it, grouping the syncs of batches that
// queue up, so the writer no longer waits a whole fsync per group: it only
// hands the group over. The syncer waits for each group's sync in order,
// and only then answers its callers and publishes its entries, so nothing
// is acknowledged or sent before it is durable.
type syncer struct {
	s       *Store
	queue   chan *inflight
	pending sync.WaitGroup // groups handed over and not yet answered
	done    chan struct{}
	// failedGen is the generation in which a sync failed; every later
	// group of that generation fails too, whatever its own sync said: a
	// WAL behind a failed sync is not to be trusted (the writer reopens
	// the database, which starts a new generation).
	failedGen uint64
	failed    bool
	// synced is set by every successful sync, for the writer's reopen
	// backoff: a disk that takes writes but fails syncs is not healed.
	synced atomic.Bool
}

func newSyncer(s *Store) *syncer {
	y := &syncer{s: s, queue: make(chan *inflight, maxInflight), done: make(chan struct{})}
	go y.run()
	return y
}

// hand gives g to the syncer; it waits while maxInflight groups are pending.
func (y *syncer) hand(g *inflight) {
	y.pending.Add(1)
	y.queue <- g
}

// drain waits until every group handed over has been answered.
func (y *syncer) drain() { y.pending.Wait() }

// stop drains and ends the syncer.
func (y *syncer) stop() {
	close(y.queue)
	<-y.done
}

func (y *syncer) run() {
	defer close(y.done)
	for g := range y.queue {
		y.finish(g)
		y.pending.Done()
	}
}

func (y *syncer) finish(g *inflight) {
	s := y.s
	err := syncWait(g.b)
	_ = g.b.Close()
	if err == nil && y.failed && y.failedGen == g.gen {
		err = fmt.Errorf("an earlier group's WAL sync failed")
	}
	if err != nil {
		y.failed, y.failedGen = true, g.gen
		s.markBroken(err)
		s.opts.warnLimit.log(s.opts.Logger, slog.LevelError, "store: group commit failed", "requests", len(g.taken), "err", errText(err))
		s.metrics.Failures.Inc()
		fail := reply{err: fmt.Errorf("store: append: %w: %w", notify.ErrUnavailable, err)}
		for _, r := range g.taken {
			r.reply <- fail
		}
		return
	}
	y.synced.Store(true)
	s.bounds.done(g.spans)
	s.metrics.Commit.Observe(time.Since(g.start).Seconds())
	s.metrics.GroupSize.Observe(float64(len(g.entries)))
	s.metrics.Entries.Add(float64(len(g.entries)))
	s.metrics.Appends.Add(float64(len(g.taken)))
	s.metrics.Duplicates.Add(float64(g.dups))
	for _, r := range g.taken {
		for _, d := range r.ds {
			if len(d.Recipients) > 0 {
				s.cache.add(d.Notification)
			}
		}
		if r.pub != nil {
			s.cache.add(r.pub.n)
		}
	}
	if len(g.entries) > 0 {
		s.opts.OnCommit(g.entries)
	}
	for i, r := range g.taken {
		rep := reply{results: g.results[i]}
		if g.offsets != nil {
			rep.offsets = g.offsets[i]
		}
		r.reply <- rep
	}
}

// syncWait waits for the WAL sync of a batch applied with ApplyNoSyncWait,
// turning Pebble's fatal error (a panic from pebbleLogger.Fatalf) into an
// error.
func syncWait(b *pebble.Batch) (err error) {
	defer recoverFatal(&err)
	return b.SyncWait()
}

// applyBatch applies b to the database without waiting for its WAL sync,
// which the caller must wait for with syncWait before telling anyone. Like
// commitBatch, it is serialized with every other commit and refused once
// the database is broken.
func (s *Store) applyBatch(b *pebble.Batch) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.broken.Load(); err != nil {
		return *err
	}
	if err := applyNoSyncWait(s.db, b); err != nil {
		s.markBroken(err)
		return err
	}
	return nil
}

func applyNoSyncWait(db *pebble.DB, b *pebble.Batch) (err error) {
	defer recoverFatal(&err)
	return db.ApplyNoSyncWait(b, pebble.Sync)
}
