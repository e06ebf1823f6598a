package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// request is one Append or Publish waiting for the writer.
type request struct {
	ds    []store.Delivery
	pub   *pubRequest // set for a Publish
	state atomic.Int32
	reply chan reply // buffered: the writer never blocks on it
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
	err     error
}

// Append implements store.Store. It returns once Redis holds the entries.
// If ctx ends while the request still waits for the writer, Append returns
// the context's error and nothing is stored; once the writer took the
// request, Append waits for its group.
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
// writer took it, do waits for its group.
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

// writer is the one goroutine that appends: it takes every pending request
// (up to MaxBatch entries) as a group and writes the group with at most
// three pipelined round trips (four when it converts v1 inboxes). Being
// the only one, it hands entries to the commit hook in cursor order per
// user, as the embedded store does; other processes appending to the same
// users make gaps, which streams fill from the store.
type writer struct {
	s *Store
}

func newWriter(s *Store) *writer { return &writer{s: s} }

func (w *writer) run() {
	defer close(w.s.done)
	for r := range w.s.reqs {
		w.group(r)
	}
}

func (w *writer) group(first *request) {
	var taken []*request
	n := 0
	take := func(r *request) {
		if r.state.CompareAndSwap(stateQueued, stateTaken) {
			taken = append(taken, r)
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
			take(r)
		default:
			break drain
		}
	}
	if len(taken) == 0 {
		return
	}
	start := time.Now()
	g := newGroup(w.s, taken)
	g.write(context.Background())
	// Entries that reached Redis are visible to Read whatever else failed,
	// so the hook gets them too.
	if len(g.entries) > 0 {
		w.s.opts.OnCommit(g.entries)
	}
	// Each request fails alone: in a cluster one master that fails (dead,
	// or short of replicas) must not fail the calls of users on the others.
	errs := g.requestErrors(len(taken))
	failed := 0
	var firstErr error
	for i, r := range taken {
		if errs[i] != nil {
			failed++
			if firstErr == nil {
				firstErr = errs[i]
			}
			r.reply <- reply{err: fail("append", errs[i])}
			continue
		}
		r.reply <- reply{results: g.results[i], offsets: g.offsets[i]}
	}
	if failed > 0 {
		w.s.metrics.Failures.Inc()
		w.s.opts.Logger.Error("store: append failed", "requests", failed, "of", len(taken), "err", firstErr)
	}
	if failed == len(taken) {
		return
	}
	w.s.metrics.Commit.Observe(time.Since(start).Seconds())
	w.s.metrics.GroupSize.Observe(float64(len(g.entries)))
	w.s.metrics.Entries.Add(float64(len(g.entries)))
	w.s.metrics.Appends.Add(float64(len(taken) - failed))
	w.s.metrics.Duplicates.Add(float64(g.dups))
}

// item is one delivery of a group.
type item struct {
	req     int // index of its request in the group
	err     error
	d       store.Delivery
	res     *store.Result
	first   bool    // a whole delivery or a first part
	key     string  // idempotency key, "" for none
	owner   *item   // an earlier item of the group that claimed (or met) key
	claim   *call   // its claim of key
	claimed bool    // the claim made the record (so it is this item's, as made)
	rec     *record // the live record the claim met
	appends bool    // stores entries
	stored  int     // entries that exist for it (new, or from a crashed attempt)
}

// record is an idempotency record as the claim script returns it.
type record struct {
	id          string
	n           int
	done        bool
	lastUser    notify.UserID
	fingerprint string // "" for records written before fingerprints
}

// userBatch is one user's entries of a group: one script call.
type userBatch struct {
	user notify.UserID
	call *call
	refs []ref
}

type ref struct {
	it    *item
	topic notify.Topic
}

// group is the work of one writer pass.
type group struct {
	s       *Store
	now     time.Time
	items   []*item
	pubs    []*pubItem
	results [][]store.Result
	offsets [][]notify.Cursor // of publishes, by request
	entries []notify.Entry    // stored ones, for the hook
	dups    int
}

func newGroup(s *Store, reqs []*request) *group {
	g := &group{s: s, now: s.opts.Now(), results: make([][]store.Result, len(reqs)), offsets: make([][]notify.Cursor, len(reqs))}
	for i, r := range reqs {
		if r.pub != nil {
			g.offsets[i] = make([]notify.Cursor, len(r.pub.channels))
			g.pubs = append(g.pubs, &pubItem{req: i, pub: r.pub, offsets: g.offsets[i]})
			continue
		}
		g.results[i] = make([]store.Result, len(r.ds))
		for j, d := range r.ds {
			g.items = append(g.items, &item{
				req:   i,
				d:     d,
				res:   &g.results[i][j],
				first: !d.Part.Multi || d.Part.Seq == 0,
				key:   d.Notification.IdempotencyKey,
			})
		}
	}
	return g
}

// write stores the group: (1) claim the idempotency keys of first
// deliveries, (2) append each user's entries, (3) settle the records.
// Each step is one pipeline (the appends two, when some convert). An item whose call fails in a step takes no
// further step and fails its request alone; its record stays incomplete,
// so a retry resumes without duplicates (see doc.go).
func (g *group) write(ctx context.Context) {
	g.claim(ctx)
	g.append(ctx)
	if f := g.s.afterAppend; f != nil {
		if err := f(); err != nil {
			for _, it := range g.items {
				it.fail(err)
			}
			return
		}
	}
	g.settle(ctx)
	g.finish()
}

// fail records the first error of an item.
func (it *item) fail(err error) {
	if it.err == nil {
		it.err = err
	}
}

// requestErrors is each request's first failed item's error (nil: whole).
// A repeat of a key within the group fails with the item it follows.
func (g *group) requestErrors(n int) []error {
	errs := make([]error, n)
	for _, p := range g.pubs {
		errs[p.req] = p.err
	}
	for _, it := range g.items {
		err := it.err
		if err == nil && it.owner != nil {
			err = it.owner.err
		}
		if err != nil && errs[it.req] == nil {
			errs[it.req] = err
		}
	}
	return errs
}

func (g *group) claim(ctx context.Context) {
	owners := make(map[string]*item)
	var calls []*call
	for _, it := range g.items {
		if it.key == "" || !it.first {
			continue
		}
		if o := owners[it.key]; o != nil {
			it.owner = o
			continue
		}
		owners[it.key] = it
		w := g.s.opts.IdempotencyWindow
		c := &call{script: claimScript, keys: []string{g.s.idemKey(it.key)},
			args: []any{it.d.Notification.ID, micros(g.now), w.Microseconds(), w.Milliseconds(), it.d.Notification.Fingerprint}}
		calls = append(calls, c)
		it.claim = c
	}
	if len(calls) == 0 {
		return
	}
	g.s.runAll(ctx, calls)
	for _, it := range g.items {
		if it.claim != nil && it.claim.err != nil {
			it.fail(it.claim.err)
		}
	}
}

func (g *group) append(ctx context.Context) {
	var (
		batches []*userBatch
		byUser  = make(map[notify.UserID]*userBatch)
		now     = micros(g.now)
		// One argument, since each costs the script: see appendScript.
		retention = strconv.Itoa(g.s.opts.RetentionCount) + ":" + strconv.FormatInt(g.s.opts.RetentionAge.Microseconds(), 10)
		v2        = g.s.opts.Layout == LayoutV2
	)
	for _, it := range g.items {
		if it.err != nil {
			continue
		}
		if err := g.decide(it); err != nil {
			it.fail(err)
			continue
		}
		if !it.appends || len(it.d.Recipients) == 0 {
			continue
		}
		n := it.d.Notification
		body := encodeNotification(nil, n)
		exp := expiry(n)
		// Flags '0' (counted), or '8' (uncounted) for a notification
		// that expired already.
		state := "0"
		if exp != 0 && exp <= now {
			state = "8"
		}
		state += strconv.FormatInt(now, 10) + ":" + strconv.FormatInt(exp, 10)
		// Layout v2 takes the ID as its field, and in the state.
		id := n.ID
		if v2 {
			id, state = "i"+n.ID, state+":"+n.ID
		}
		for _, rc := range it.d.Recipients {
			b := byUser[rc.User]
			if b == nil {
				k := g.s.userKeys(rc.User)
				c := &call{script: appendScript, keys: k.inbox(), args: []any{retention}}
				if v2 {
					c.script, c.keys = appendV2Script, k.inboxV2()
				}
				b = &userBatch{user: rc.User, call: c}
				byUser[rc.User] = b
				batches = append(batches, b)
			}
			b.call.args = append(b.call.args, id, state, encodeEntry(rc.Topic, body))
			b.refs = append(b.refs, ref{it: it, topic: rc.Topic})
		}
	}
	// Channel events go in the same pipeline.
	chans := g.channelBatches()
	if len(batches) == 0 && len(chans) == 0 {
		return
	}
	calls := make([]*call, 0, len(batches)+len(chans))
	for _, b := range batches {
		calls = append(calls, b.call)
	}
	for _, b := range chans {
		calls = append(calls, b.call)
	}
	g.s.runAll(ctx, calls)
	g.collectChannels(chans)
	g.convert(ctx, batches)
	// Collect what was stored even if some calls failed: users are
	// independent, and their entries are visible. The items of a user
	// whose call failed fail, whatever their other users got.
	for _, b := range batches {
		cerr := b.call.err
		var cs []int64
		switch {
		case convertFirst(b.call):
			cerr = fmt.Errorf("append for %s: inbox still in layout v1 after its conversion", b.user)
		case cerr == nil:
			cs, cerr = cursors(b.call.cmd)
		}
		if cerr == nil && len(cs) != len(b.refs) {
			cerr = fmt.Errorf("append for %s: %d cursors for %d entries", b.user, len(cs), len(b.refs))
		}
		if cerr != nil {
			for _, r := range b.refs {
				r.it.fail(cerr)
			}
			continue
		}
		for i, c := range cs {
			r := b.refs[i]
			r.it.stored++
			if c > 0 {
				g.entries = append(g.entries, notify.Entry{User: b.user, Cursor: notify.Cursor(c), Topic: r.topic, Notification: r.it.d.Notification})
			}
		}
	}
}

// convert converts the v1 inboxes that the v2 append script answered "v1"
// for, having written nothing, and appends to them again: one more
// pipeline (ending with WAIT, as any), once per inbox. A user's conversion
// precedes its append in the pipeline, and its entries stay one call, so
// their order holds. The conversions go by EVAL: rare, so Redis would
// seldom know them, and a NOSCRIPT retry would come after the appends.
func (g *group) convert(ctx context.Context, batches []*userBatch) {
	var calls []*call
	for _, b := range batches {
		if !convertFirst(b.call) {
			continue
		}
		c := b.call
		b.call = &call{script: c.script, keys: c.keys, args: c.args}
		conv := &call{script: convertScript, keys: g.s.userKeys(b.user).inbox(), eval: true}
		calls = append(calls, conv, b.call)
	}
	if len(calls) == 0 {
		return
	}
	g.s.runAll(ctx, calls)
	for i := 0; i < len(calls); i += 2 {
		if err := calls[i].err; err != nil && (calls[i+1].err != nil || convertFirst(calls[i+1])) {
			calls[i+1].err = fmt.Errorf("convert to layout v2: %w", err)
		}
	}
}

// convertFirst tells whether an append call answered "v1": its inbox is in
// layout v1, which the v2 append script does not write.
func convertFirst(c *call) bool {
	if c.err != nil {
		return false
	}
	s, ok := c.cmd.Val().(string)
	return ok && s == "v1"
}

// cursors is the append script's reply: one cursor as a number, or a
// table of them.
func cursors(cmd *redis.Cmd) ([]int64, error) {
	if c, err := cmd.Int64(); err == nil {
		return []int64{c}, nil
	}
	return cmd.Int64Slice()
}

// decide settles, from its claim, whether it stores entries.
func (g *group) decide(it *item) error {
	switch {
	case it.owner != nil:
		return nil // a repeat of the key within the group: see finish
	case it.claim == nil:
		it.appends = true // no key, or a later part
		return nil
	}
	v, err := it.claim.cmd.Result()
	if err != nil {
		return err
	}
	fields, ok := v.([]any)
	if !ok {
		it.appends, it.claimed = true, true
		return nil
	}
	rec, err := parseRecord(fields)
	if err != nil {
		return err
	}
	if rec.id == it.d.Notification.ID && !rec.done {
		// Our own claim, met again: a client-side retry of the claim
		// whose first reply was lost.
		it.appends = true
		return nil
	}
	it.rec = &rec
	return nil
}

func parseRecord(fields []any) (record, error) {
	if len(fields) != 5 {
		return record{}, fmt.Errorf("idempotency record of %d fields", len(fields))
	}
	str := func(i int) string { s, _ := fields[i].(string); return s }
	n, err := strconv.Atoi(str(1))
	if err != nil {
		return record{}, fmt.Errorf("idempotency record: recipients %q", str(1))
	}
	return record{id: str(0), n: n, done: str(2) == "1", lastUser: notify.UserID(str(3)), fingerprint: str(4)}, nil
}

func (g *group) settle(ctx context.Context) {
	var (
		calls []*call
		owner []*item
	)
	w := g.s.opts.IdempotencyWindow
	for _, it := range g.items {
		if it.key == "" || !it.appends || it.err != nil {
			continue
		}
		final := !it.d.Part.Multi || it.d.Part.Final
		var last notify.UserID
		if it.d.Part.Multi && len(it.d.Recipients) > 0 {
			last = it.d.Recipients[len(it.d.Recipients)-1].User
		}
		key := g.s.idemKey(it.key)
		if it.claimed {
			// The record is as this group's claim made it: writing it
			// whole, settled, is what the script would do, without one.
			// PEXPIRE covers a record that vanished since (evicted, or
			// lost in a failover), as the script does.
			n := it.d.Notification
			calls = append(calls,
				&call{keys: []string{key}, args: []any{"hset", key, "id", n.ID, "n", it.stored, "done", boolArg(final),
					"last", string(last), "t", micros(g.now), "f", n.Fingerprint}},
				&call{keys: []string{key}, args: []any{"pexpire", key, w.Milliseconds()}})
			owner = append(owner, it, it)
			continue
		}
		calls = append(calls, &call{script: settleScript, keys: []string{key},
			args: []any{it.d.Notification.ID, it.stored, string(last), boolArg(final), micros(g.now), w.Milliseconds(), it.d.Notification.Fingerprint}})
		owner = append(owner, it)
	}
	if len(calls) == 0 {
		return
	}
	g.s.runAll(ctx, calls)
	for i, c := range calls {
		if c.err != nil {
			owner[i].fail(c.err)
		}
	}
}

// finish fills in the results of the items that did not fail.
func (g *group) finish() {
	for _, it := range g.items {
		if it.err != nil || (it.owner != nil && it.owner.err != nil) {
			continue
		}
		n := it.d.Notification
		switch {
		case it.rec != nil:
			*it.res = recordResult(*it.rec, n.Fingerprint)
		case it.owner != nil:
			*it.res = ownerResult(it.owner, n.Fingerprint)
		default:
			*it.res = store.Result{ID: n.ID, Recipients: it.stored}
			continue
		}
		if it.res.Duplicate {
			g.dups++
		}
	}
}

// recordResult is the result of a first delivery with fingerprint fp whose
// key a live record holds: a conflict, a duplicate, or a fan-out to resume.
func recordResult(rec record, fp string) store.Result {
	if !notify.SameContent(rec.fingerprint, fp) {
		return store.Result{ID: rec.id, Recipients: rec.n, Conflict: true}
	}
	if rec.done {
		return store.Result{ID: rec.id, Recipients: rec.n, Duplicate: true}
	}
	return store.Result{ID: rec.id, Recipients: rec.n, Incomplete: true, ResumeAfter: rec.lastUser}
}

// ownerResult is the result of a first delivery whose key an earlier one
// of the same group claimed (or met): as if it came right after it.
func ownerResult(o *item, fp string) store.Result {
	if o.rec != nil {
		return recordResult(*o.rec, fp)
	}
	d := o.d
	if !notify.SameContent(d.Notification.Fingerprint, fp) {
		return store.Result{ID: d.Notification.ID, Recipients: o.stored, Conflict: true}
	}
	if !d.Part.Multi || d.Part.Final {
		return store.Result{ID: d.Notification.ID, Recipients: o.stored, Duplicate: true}
	}
	var last notify.UserID
	if len(d.Recipients) > 0 {
		last = d.Recipients[len(d.Recipients)-1].User
	}
	return store.Result{ID: d.Notification.ID, Recipients: o.stored, Incomplete: true, ResumeAfter: last}
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// call is one script call of a pipeline, or, without a script, one
// command (args, naming its keys first).
type call struct {
	script *redis.Script
	keys   []string
	args   []any
	eval   bool // always by EVAL
	cmd    *redis.Cmd
	err    error // the call's failure, its own or its pipeline's (nil: done)
}

// queue adds c to pipe, its script by EVALSHA, or by EVAL if eval.
func (c *call) queue(ctx context.Context, pipe redis.Pipeliner, eval bool) {
	switch {
	case c.script == nil:
		c.cmd = pipe.Do(ctx, c.args...)
	case eval || c.eval:
		c.cmd = c.script.Eval(ctx, pipe, c.keys, c.args...)
	default:
		c.cmd = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
}

// runAll runs calls in one pipeline with EVALSHA, then, in a second, with
// EVAL those that Redis did not know (it restarted, or never saw them):
// every script is safe to run again after NOSCRIPT, which ran nothing. Each
// call's failure is in its err.
func (s *Store) runAll(ctx context.Context, calls []*call) {
	if s.opts.WaitReplicas > 0 {
		s.runWaited(ctx, calls)
		return
	}
	pipe := s.rdb.Pipeline()
	for _, c := range calls {
		c.queue(ctx, pipe, false)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		var retry []*call
		for _, c := range calls {
			if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
				retry = append(retry, c)
			}
		}
		if len(retry) > 0 {
			pipe = s.rdb.Pipeline()
			for _, c := range retry {
				c.queue(ctx, pipe, true)
			}
			_, _ = pipe.Exec(ctx)
		}
	}
	for _, c := range calls {
		c.err = cmdErr(c.cmd)
	}
}

// cmdErr is a reply's failure; redis.Nil is an answer, not one.
func cmdErr(cmd *redis.Cmd) error {
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}
