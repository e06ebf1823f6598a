package embedded

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/heraldhq/herald/internal/backoff"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// maxMetaCache bounds the writer's cache of user meta records; past it the
// cache starts over (cheaper than an LRU on the hot path, and a miss is one
// Get).
const maxMetaCache = 1 << 18

// writer is the one goroutine that mutates the database.
type writer struct {
	s     *Store
	metas map[notify.UserID]meta        // committed state of recently seen users
	chans map[notify.Channel]*chanState // recently used channels (channels.go)
	sweep *sweep                        // the retention pass in progress, if any
	// retry fires the next reopen while the database is broken (a commit
	// failed: Pebble's commit pipeline is not usable afterwards, so every
	// group fails fast until then); backoff paces the attempts.
	retry   *time.Timer
	backoff backoff.Backoff
	// readOnly is set while the database readers use is the read-only one
	// that stands in during a reopen (see reopen).
	readOnly bool

	// sync answers each applied group once its WAL sync ends; gen counts
	// the database's reopens, so that a failed sync fails only the groups
	// applied in the same database after it.
	sync *syncer
	gen  uint64

	taken   []*request     // reused between groups
	order   []int32        // reused: the group's entries in key order
	held    *request       // a mark that ended the group being drained
	entries []notify.Entry // the current group's, handed to the hook
	// chanEntries are the current group's channel events; reused, as
	// entries takes a copy of them.
	chanEntries []notify.Entry
	buf         []byte // reused; Pebble copies keys and values into the batch
	key         []byte
}

func newWriter(s *Store) *writer {
	return &writer{
		s:       s,
		metas:   make(map[notify.UserID]meta),
		chans:   make(map[notify.Channel]*chanState),
		backoff: backoff.Backoff{Min: reopenFirst, Max: reopenMax},
	}
}

func (w *writer) run() {
	defer close(w.s.done)
	w.sync = newSyncer(w.s)
	defer w.sync.stop() // answers what is in flight before done closes
	defer w.stopRetry()
	tick := time.NewTicker(w.s.opts.SweepInterval)
	defer tick.Stop()
	for {
		retry := w.retryC()
		if w.sweep != nil {
			// Appends first; a chunk of the sweep only when none waits.
			select {
			case r, ok := <-w.s.reqs:
				if !ok {
					w.finishSweep(fmt.Errorf("store: sweep: %w", notify.ErrClosed))
					return
				}
				w.handle(r)
			case done := <-w.s.sweeps:
				w.sweep.waiters = append(w.sweep.waiters, done)
			default:
				w.sweepStep()
			}
			continue
		}
		select {
		case r, ok := <-w.s.reqs:
			if !ok {
				return
			}
			w.handle(r)
		case done := <-w.s.sweeps:
			w.startSweep(done)
		case <-tick.C:
			w.startSweep(nil)
		case <-w.s.wake:
			// A commit failed: the next turn arms the retry.
		case <-retry:
			w.retry = nil
			w.reopen()
		}
	}
}

// Backoff of the reopen attempts after a disk fault.
const (
	reopenFirst = 50 * time.Millisecond
	reopenMax   = 5 * time.Second
)

// retryC arms the reopen timer while the database is broken and returns
// its channel; nil (never ready) while it is healthy.
func (w *writer) retryC() <-chan time.Time {
	if w.s.broken.Load() == nil {
		return nil
	}
	if w.retry == nil {
		w.retry = time.NewTimer(w.backoff.Next())
	}
	return w.retry.C
}

func (w *writer) stopRetry() {
	if w.retry != nil {
		w.retry.Stop()
	}
}

// reopen closes the broken database and opens it again: Pebble replays its
// WAL, so every acknowledged entry is back, and so may be the entries of a
// group that failed after its WAL write (its callers were told it failed;
// they may be there once, never twice, as the meta records are reloaded
// too). Requests fail fast with ErrUnavailable until it succeeds (see
// Store.do).
//
// Reads go on through the fault. Until the first attempt they use the
// broken database: the failed commit left Pebble's commit pipeline
// unusable, not its read path. The attempt swaps it for a read-only open of
// the directory, which replays the WAL into memory and writes nothing, and
// then opens the writable database beside it. That open may not return
// while the disk stays full (Pebble retries the flush of the replayed WAL
// until it succeeds), so readers use the read-only database meanwhile, and
// take the writable one once it is open. Readers and writes outside the
// writer hold the database (see hold), so each swap waits for them, and
// they wait for the swap.
//
// Neither database shows an entry or a channel event that was not
// acknowledged: the durable bounds of the groups that failed are kept until
// the writable open succeeds, and hide their entries as they do while a
// group syncs. Other writes whose commit failed (a mark, a subscription, a
// chunk of the sweep) may show meanwhile, as they do while they sync; their
// callers were told that they failed, and the writable reopen settles
// whether they stay.
func (w *writer) reopen() {
	s := w.s
	cause := s.brokenErr()
	// Groups in flight are answered (failed) before their database goes.
	w.sync.drain()
	if !w.readOnly {
		s.dbMu.Lock()
		if s.db != nil {
			if err := closeDB(s.db); err != nil {
				s.opts.warnLimit.log(s.opts.Logger, slog.LevelWarn, "store: closing the broken database", "err", errText(err))
			}
		}
		var err error
		if s.db, err = openDB(s.dir, s.opts, nil, true); err != nil {
			s.opts.warnLimit.log(s.opts.Logger, slog.LevelWarn, "store: read-only open failed, reads fail too", "err", errText(err))
		}
		w.readOnly = s.db != nil
		s.dbMu.Unlock()
		if w.readOnly {
			s.opts.Logger.Info("store: reads go on from a read-only open while the database reopens", "cause", errText(cause))
		}
	}
	db, err := openDB(s.dir, s.opts, s.lock, false)
	if err != nil {
		s.opts.warnLimit.log(s.opts.Logger, slog.LevelWarn, "store: reopen failed",
			"err", errText(err), "cause", errText(cause))
		return
	}
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if s.db != nil {
		if err := closeDB(s.db); err != nil {
			s.opts.warnLimit.log(s.opts.Logger, slog.LevelWarn, "store: closing the read-only database", "err", errText(err))
		}
	}
	s.db = db
	w.readOnly = false
	// The failed group may have reached the WAL: what the writer knows of
	// users is reloaded from the database.
	clear(w.metas)
	clear(w.chans)
	w.gen++
	s.bounds.reset()
	// The backoff goes on until a group commits: a full disk may let Pebble
	// open and fail the next commit again.
	s.broken.Store(nil)
	s.opts.Logger.Info("store: reopened after a disk fault", "cause", cause)
}

// handle serves one request from the queue: a mark alone, appends as a
// group. A mark met while draining a group waits for that group's commit,
// so every request takes effect in queue order.
func (w *writer) handle(r *request) {
	if r.hold != nil {
		r.reply <- reply{}
		<-r.hold
		return
	}
	if r.mark != nil {
		w.markOne(r)
		return
	}
	w.group(r)
	if h := w.held; h != nil {
		w.held = nil
		w.markOne(h)
	}
}

// group commits first and whatever else is queued, up to MaxBatch entries.
func (w *writer) group(first *request) {
	w.taken = w.taken[:0]
	n := 0
	take := func(r *request) {
		if r.state.CompareAndSwap(stateQueued, stateTaken) {
			w.taken = append(w.taken, r)
			for _, d := range r.ds {
				n += len(d.Recipients)
			}
			if r.pub != nil {
				n += len(r.pub.channels)
			}
		}
	}
	take(first)
drain:
	for n < w.s.opts.MaxBatch {
		select {
		case r, ok := <-w.s.reqs:
			if !ok {
				break drain // closed: run() sees it next
			}
			if r.mark != nil {
				w.held = r
				break drain
			}
			take(r)
		default:
			break drain
		}
	}
	if len(w.taken) == 0 {
		return
	}
	err := w.s.brokenErr()
	if err == nil {
		// On success the syncer answers the group once its WAL sync ends.
		err = w.commitGroup(n)
		if err != nil {
			w.s.opts.warnLimit.log(w.s.opts.Logger, slog.LevelError, "store: group commit failed", "requests", len(w.taken), "err", errText(err))
		}
	}
	if err != nil {
		w.s.metrics.Failures.Inc()
		w.fail(fmt.Errorf("store: append: %w: %w", notify.ErrUnavailable, err))
	} else if w.sync.synced.Swap(false) {
		w.backoff.Reset() // the disk works again: see reopen
	}
	clear(w.taken)
	w.entries = nil
}

func (w *writer) fail(err error) {
	for _, r := range w.taken {
		r.reply <- reply{err: err}
	}
}

// pending is the state of a group before it commits; it reaches the
// writer's caches only once the commit succeeded.
type pending struct {
	metas map[notify.UserID]meta
	idem  map[string]idemRecord
}

func (w *writer) commitGroup(n int) (err error) {
	s := w.s
	start := time.Now()
	now := s.opts.Now()
	b := s.db.NewBatch()
	handed := false
	defer func() {
		if !handed {
			_ = b.Close()
			// Publishes changed the channels' states in place.
			clear(w.chans)
		}
	}()
	if len(w.chans) > maxChanCache {
		clear(w.chans)
	}
	w.chanEntries = w.chanEntries[:0]
	var cs chanSpans
	// Sized for the group: a fan-out part of a thousand users grew and
	// rehashed its way there each time.
	p := pending{metas: make(map[notify.UserID]meta, n), idem: make(map[string]idemRecord)}
	results := make([][]store.Result, len(w.taken))
	var offsets [][]notify.Cursor
	// A fresh slice per group: the hook may keep it.
	w.entries = make([]notify.Entry, 0, n)
	dups := 0
	for i, r := range w.taken {
		if r.pub != nil {
			if offsets == nil {
				offsets = make([][]notify.Cursor, len(w.taken))
			}
			if offsets[i], err = w.publish(b, r.pub, now, &cs); err != nil {
				return err
			}
			continue
		}
		results[i] = make([]store.Result, len(r.ds))
		for j, d := range r.ds {
			res, dup, err := w.appendDelivery(b, &p, d, now)
			if err != nil {
				return err
			}
			if dup {
				dups++
			}
			results[i][j] = res
		}
	}
	sp, err := w.putEntries(b, &p, now)
	if err != nil {
		return err
	}
	sp = append(sp, cs.spans...)
	w.entries = append(w.entries, w.chanEntries...)
	// Readers must not see the group's entries before its WAL sync ends.
	s.bounds.begin(sp)
	if err := s.applyBatch(b); err != nil {
		// The bounds stay until the reopen resets them.
		return err
	}
	// The next group builds on this one's cursors at once; if its sync
	// fails, the reopen reloads them.
	if len(w.metas)+len(p.metas) > maxMetaCache {
		clear(w.metas)
	}
	for user, m := range p.metas {
		w.metas[user] = m
	}
	handed = true
	w.sync.hand(&inflight{
		b:       b,
		taken:   slices.Clone(w.taken),
		results: results,
		offsets: offsets,
		entries: w.entries,
		spans:   sp,
		gen:     w.gen,
		start:   start,
		dups:    dups,
	})
	return nil
}

// appendDelivery adds one delivery to the batch, or reports it a duplicate.
func (w *writer) appendDelivery(b *pebble.Batch, p *pending, d store.Delivery, now time.Time) (store.Result, bool, error) {
	n := d.Notification
	first := !d.Part.Multi || d.Part.Seq == 0
	var (
		prev    idemRecord // the record a later part continues
		hasPrev bool
	)
	if n.IdempotencyKey != "" {
		rec, ok, err := w.idemLookup(p, n.IdempotencyKey, now)
		if err != nil {
			return store.Result{}, false, err
		}
		switch {
		case ok && first && !notify.SameContent(rec.fingerprint, n.Fingerprint):
			// The key came with another notification: refuse, rather
			// than answer for one the sender did not send.
			return store.Result{ID: rec.id, Recipients: rec.recipients, Conflict: true}, false, nil
		case ok && first && rec.incomplete:
			// A retry of a fan-out that stopped midway (whole, if its
			// audience now fits one part): the caller resumes it under
			// the first attempt's ID.
			return store.Result{ID: rec.id, Recipients: rec.recipients, Incomplete: true, ResumeAfter: rec.lastUser}, false, nil
		case ok && first:
			return store.Result{ID: rec.id, Recipients: rec.recipients, Duplicate: true}, true, nil
		case ok:
			prev, hasPrev = rec, true
		}
	}
	// A whole delivery without recipients stores no body; the first part
	// of a fan-out stores it whatever its size, since later parts rely on
	// it.
	if first && (len(d.Recipients) > 0 || d.Part.Multi) {
		if err := w.putBody(b, n, now); err != nil {
			return store.Result{}, false, err
		}
	}
	for _, rc := range d.Recipients {
		m, err := w.meta(p, rc.User)
		if err != nil {
			return store.Result{}, false, err
		}
		m.last++
		p.metas[rc.User] = m
		// putEntries writes it, in key order with the rest of the group's.
		w.entries = append(w.entries, notify.Entry{User: rc.User, Cursor: m.last, Topic: rc.Topic, Notification: n})
	}
	res := store.Result{ID: n.ID, Recipients: len(d.Recipients)}
	if n.IdempotencyKey != "" {
		if err := w.putIdem(b, p, d, prev, hasPrev, now); err != nil {
			return store.Result{}, false, err
		}
	}
	return res, false, nil
}

// putBody writes a notification's body and its age and expiry index keys.
func (w *writer) putBody(b *pebble.Batch, n *notify.Notification, now time.Time) error {
	w.buf = encodeNotification(w.buf[:0], n)
	if err := b.Set(bodyKey(nil, n.ID), w.buf, nil); err != nil {
		return err
	}
	if err := b.Set(timeKey(nil, kindBodyAge, now, n.ID), nil, nil); err != nil {
		return err
	}
	if !n.ExpireTime.IsZero() {
		return b.Set(timeKey(nil, kindBodyExpire, n.ExpireTime, n.ID), nil, nil)
	}
	return nil
}

// putIdem writes the idempotency record of d. A later part of a fan-out
// updates the record its first part wrote (prev), keeping that part's time
// so that the record and its age index key agree; without one (the window
// passed midway) it starts a new record with what it knows. A record of
// another notification under the same key is left alone.
func (w *writer) putIdem(b *pebble.Batch, p *pending, d store.Delivery, prev idemRecord, hasPrev bool, now time.Time) error {
	n := d.Notification
	rec := idemRecord{id: n.ID, recipients: len(d.Recipients), time: now.UnixNano(), fingerprint: n.Fingerprint}
	if d.Part.Multi {
		rec.incomplete = !d.Part.Final
		if len(d.Recipients) > 0 {
			rec.lastUser = d.Recipients[len(d.Recipients)-1].User
		}
	}
	if hasPrev {
		if prev.id != n.ID {
			return nil
		}
		rec.recipients += prev.recipients
		rec.time = prev.time
		rec.fingerprint = prev.fingerprint
		rec.incomplete = prev.incomplete && !d.Part.Final
		if rec.lastUser == "" {
			rec.lastUser = prev.lastUser
		}
	}
	p.idem[n.IdempotencyKey] = rec
	if err := b.Set(idemKey(nil, n.IdempotencyKey), encodeIdem(nil, rec), nil); err != nil {
		return err
	}
	if hasPrev {
		return nil // the first part wrote the age index key
	}
	return b.Set(timeKey(nil, kindIdemAge, time.Unix(0, rec.time), n.IdempotencyKey), nil, nil)
}

// idemLookup finds a live idempotency record, in this group or committed.
func (w *writer) idemLookup(p *pending, key string, now time.Time) (idemRecord, bool, error) {
	if rec, ok := p.idem[key]; ok {
		return rec, true, nil
	}
	v, closer, err := w.s.db.Get(idemKey(nil, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return idemRecord{}, false, nil
	}
	if err != nil {
		return idemRecord{}, false, err
	}
	defer closer.Close()
	rec, err := decodeIdem(v)
	if err != nil {
		return idemRecord{}, false, fmt.Errorf("idempotency record %q: %w", key, err)
	}
	if now.Sub(time.Unix(0, rec.time)) >= w.s.opts.IdempotencyWindow {
		return idemRecord{}, false, nil // expired: the sweep has not got to it yet
	}
	return rec, true, nil
}

// meta returns the user's meta as this group left it so far.
func (w *writer) meta(p *pending, user notify.UserID) (meta, error) {
	if m, ok := p.metas[user]; ok {
		return m, nil
	}
	if m, ok := w.metas[user]; ok {
		return m, nil
	}
	return w.s.loadMeta(user)
}

// putEntries writes the group's entries and the meta records of their users
// in key order, user by user: Pebble inserts a batch into its memtable one
// key at a time, and a search that starts next to the previous key is
// short, where in group order (and a map's for the metas) each one started
// from the top of a memtable of a million keys.
//
// A user's oldest entries beyond RetentionCount are deleted after the new
// ones are written, so that a group bringing more than that many trims its
// own too. Entries are the contiguous range (floor, last], so their keys are
// known without a read.
//
// It returns the group's span of cursors for each user.
func (w *writer) putEntries(b *pebble.Batch, p *pending, now time.Time) ([]span, error) {
	order := w.order[:0]
	for i := range w.entries {
		order = append(order, int32(i))
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &w.entries[i], &w.entries[j]
		if c := compareKeyOrder(a.User, b.User); c != 0 {
			return c
		}
		return cmp.Compare(a.Cursor, b.Cursor)
	})
	w.order = order
	// A fresh slice: the syncer keeps it until the group's sync ends.
	sp := make([]span, 0, min(len(order), len(p.metas)))
	keep := notify.Cursor(w.s.opts.RetentionCount)
	nanos := now.UnixNano()
	for k := 0; k < len(order); {
		user := w.entries[order[k]].User
		m := p.metas[user]
		floor := m.floor
		if m.last-m.floor > keep {
			m.floor = m.last - keep
		}
		p.metas[user] = m
		w.key = metaKey(w.key[:0], user)
		w.buf = encodeMeta(w.buf[:0], m)
		if err := b.Set(w.key, w.buf, nil); err != nil {
			return nil, err
		}
		first := w.entries[order[k]].Cursor
		for ; k < len(order) && w.entries[order[k]].User == user; k++ {
			e := &w.entries[order[k]]
			ev := entryValue{time: nanos, id: e.Notification.ID, topic: e.Topic}
			if !e.Notification.ExpireTime.IsZero() {
				ev.flags, ev.expire = flagExpires, unixNanos(e.Notification.ExpireTime)
			}
			w.buf = encodeEntry(w.buf[:0], ev)
			w.key = entryKey(w.key[:0], user, e.Cursor)
			if err := b.Set(w.key, w.buf, nil); err != nil {
				return nil, err
			}
		}
		sp = append(sp, span{user: user, first: first, last: w.entries[order[k-1]].Cursor})
		if m.floor > floor {
			if err := deleteEntries(b, user, floor, m.floor); err != nil {
				return nil, err
			}
		}
	}
	return sp, nil
}

// deleteEntries deletes the entries (from, to] of user: point deletes for a
// few (the steady state: one per append), a range deletion for many.
func deleteEntries(b *pebble.Batch, user notify.UserID, from, to notify.Cursor) error {
	if to-from > 64 {
		return b.DeleteRange(entryKey(nil, user, from+1), entryKey(nil, user, to+1), nil)
	}
	for c := from + 1; c <= to; c++ {
		if err := b.Delete(entryKey(nil, user, c), nil); err != nil {
			return err
		}
	}
	return nil
}

// commit commits b, turning Pebble's fatal commit error (a panic from
// pebbleLogger.Fatalf) into an error.
func commit(b *pebble.Batch, opts *pebble.WriteOptions) (err error) {
	defer recoverFatal(&err)
	return b.Commit(opts)
}

// recoverFatal, deferred, turns a panic from pebbleLogger.Fatalf into *err;
// any other panic goes on.
func recoverFatal(err *error) {
	if p := recover(); p != nil {
		f, ok := p.(pebbleFatal)
		if !ok {
			panic(p)
		}
		*err = f
	}
}
