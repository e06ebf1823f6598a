package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Signals from a part's append back through the router's callback.
var (
	errResume = errors.New("ingest: resume the fan-out")   // route again after fanOut.after
	errDone   = errors.New("ingest: notification settled") // a duplicate: stop routing
)

// fanOut routes one notification and, once it has a second part, stores it
// in parts (store.Part) as they are routed, holding back one part because
// only the router's end says which part is Final.
//
// The total it reports sums the parts' Result.Recipients, each counting
// that part's entries, and, after a resume, the Incomplete result's, which
// counts the entries of the attempt that stopped (store.Part).
type fanOut struct {
	s *Service
	n *notify.Notification

	held   []store.Recipient // the last part routed, not stored yet
	multi  bool              // storing in parts
	seq    int               // the next part's Seq
	after  notify.UserID     // where routing (re)starts
	base   int               // entries stored before a resume
	stored int               // entries this call stored
	res    store.Result      // the last part's result
	done   bool              // res is final: a duplicate
	err    error             // a failed append, returned as is
	unlock func()            // releases the idempotency key's lock
}

// route routes f.n and reports whole when its recipients fit in one part:
// they are then f.held, for the caller to append as a whole delivery with
// others. Otherwise f.n is stored, in parts, when route returns.
func (f *fanOut) route(ctx context.Context) (whole bool, err error) {
	defer f.release()
	if err := f.run(ctx); err != nil {
		return false, err
	}
	if !f.multi {
		return true, nil
	}
	return false, f.finish(ctx)
}

// resume completes, under r.ID, a fan-out in parts that an earlier attempt
// left at r.ResumeAfter; r is the result of appending f.n whole or as a
// first part.
func (f *fanOut) resume(ctx context.Context, r store.Result) error {
	defer f.release()
	if f.n.IdempotencyKey != "" && f.unlock == nil {
		unlock, err := f.s.keys.lock(ctx, f.n.IdempotencyKey)
		if err != nil {
			return fmt.Errorf("ingest: wait for the fan-out of %s: %w", r.ID, err)
		}
		f.unlock = unlock
	}
	f.resumeAt(r)
	if err := f.run(ctx); err != nil {
		return err
	}
	return f.finish(ctx)
}

func (f *fanOut) resumeAt(r store.Result) {
	f.s.log.Info("resuming an interrupted fan-out", "notification_id", r.ID, "after", string(r.ResumeAfter))
	// Nothing of this attempt is stored yet, so nobody shares f.n: it
	// takes the first attempt's ID, under which the parts so far are.
	f.n.ID = r.ID
	f.multi, f.seq, f.after, f.held, f.base = true, 1, r.ResumeAfter, nil, r.Recipients
}

func (f *fanOut) run(ctx context.Context) error {
	fn := func(part []store.Recipient) error { return f.part(ctx, part) }
	for {
		err := f.s.router.Route(ctx, f.n, f.after, f.s.partSize, fn)
		switch {
		case errors.Is(err, errResume):
			continue
		case errors.Is(err, errDone):
			return nil
		case f.err != nil:
			return f.err
		case err != nil:
			return fmt.Errorf("ingest: route %s: %w", f.n.ID, err)
		}
		return nil
	}
}

// part takes the next part from the router and stores the one before,
// which is now known not to be the last.
func (f *fanOut) part(ctx context.Context, p []store.Recipient) error {
	if f.held != nil {
		if err := f.send(ctx, f.held, false); err != nil {
			return err
		}
	}
	f.held = p
	return nil
}

// finish stores the held part as the Final one: possibly empty, after a
// resume, to mark the fan-out complete.
func (f *fanOut) finish(ctx context.Context) error {
	if f.done {
		return nil
	}
	// After a first part, send's errResume cannot happen.
	if err := f.send(ctx, f.held, true); err != nil {
		if errors.Is(err, errDone) {
			return nil
		}
		return err
	}
	if f.s.log.Enabled(ctx, slog.LevelDebug) {
		f.s.log.DebugContext(ctx, "notification stored in parts", "notification_id", f.n.ID, "parts", f.seq, "recipients", f.stored)
	}
	return nil
}

func (f *fanOut) send(ctx context.Context, p []store.Recipient, final bool) error {
	if f.n.IdempotencyKey != "" && f.unlock == nil {
		// Two attempts of one key in this process must not interleave
		// their parts: the second waits, then finds the first's record.
		unlock, err := f.s.keys.lock(ctx, f.n.IdempotencyKey)
		if err != nil {
			f.err = fmt.Errorf("ingest: wait for another attempt of %s: %w", f.n.ID, err)
			return f.err
		}
		f.unlock = unlock
	}
	f.multi = true
	d := store.Delivery{Notification: f.n, Recipients: p, Part: store.Part{Multi: true, Seq: f.seq, Final: final}}
	rs, err := f.s.app.Append(ctx, []store.Delivery{d})
	if err == nil && len(rs) != 1 {
		err = fmt.Errorf("%d results for 1 delivery", len(rs))
	}
	if err != nil {
		f.err = fmt.Errorf("ingest: append part %d of %s: %w", f.seq, f.n.ID, err)
		return f.err
	}
	switch r := rs[0]; {
	case r.Duplicate, r.Conflict:
		f.res, f.done = r, true
		return errDone
	case r.Incomplete && f.seq == 0:
		f.resumeAt(r)
		return errResume
	case r.Incomplete:
		f.err = fmt.Errorf("ingest: part %d of %s: the store reports an interrupted fan-out", f.seq, f.n.ID)
		return f.err
	default:
		f.res = r
	}
	f.seq++
	f.stored += f.res.Recipients
	return nil
}

// result is the notification's result once route or resume returned.
func (f *fanOut) result() store.Result {
	r := f.res
	if !r.Duplicate && !r.Conflict {
		r.Recipients = f.base + f.stored
	}
	return r
}

func (f *fanOut) release() {
	if f.unlock != nil {
		f.unlock()
		f.unlock = nil
	}
}
