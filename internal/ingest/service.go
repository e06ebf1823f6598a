// Package ingest is the one path from every entrance (gRPC, REST, Kafka) to
// the store: it validates notifications, gives them an ID, scopes their
// idempotency keys to the sender, routes them to recipients and appends them
// durably, then publishes them to their channels.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/validate"
)

// Router produces a notification's recipients after a user ID ("" for
// all), each user once, in ascending user ID order and in parts of at most
// partSize (the router's default when ≤ 0), calling fn with each; see
// router.Router.Route.
type Router interface {
	Route(ctx context.Context, n *notify.Notification, after notify.UserID, partSize int, fn func(part []store.Recipient) error) error
}

// Appender stores deliveries durably; see store.Store.Append.
type Appender interface {
	Append(ctx context.Context, ds []store.Delivery) ([]store.Result, error)
}

// Publisher appends a notification to channels' histories durably, once
// per channel and notification ID; see store.Channels.Publish.
type Publisher interface {
	Publish(ctx context.Context, n *notify.Notification, channels []notify.Channel) ([]notify.Cursor, error)
}

// Store is what a Service keeps notifications in: the inboxes and the
// channels.
type Store interface {
	Appender
	Publisher
}

// Options configure a Service. Zero values mean defaults.
type Options struct {
	Limits Limits
	// PartSize bounds the recipients of one append (default: the router's,
	// router.DefaultPartSize): a notification that reaches more is stored
	// in parts, so that a large topic neither holds its subscribers in
	// memory at once nor delays other notifications behind one huge commit.
	PartSize   int
	Now        func() time.Time      // default time.Now
	Logger     *slog.Logger          // default discards
	Registerer prometheus.Registerer // nil: metrics are not exported
}

// Service accepts notifications. It is safe for concurrent use.
type Service struct {
	router   Router
	app      Store
	lim      Limits
	partSize int
	keys     keyLocks
	now      func() time.Time
	log      *slog.Logger
	metrics  *metrics
}

// New returns a Service that routes with router and stores with app.
func New(router Router, app Store, opts Options) *Service {
	s := &Service{
		router:   router,
		app:      app,
		lim:      opts.Limits.withDefaults(),
		partSize: opts.PartSize,
		now:      opts.Now,
		log:      opts.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = newMetrics(opts.Registerer, s.log)
	return s
}

// Notify accepts a batch of notifications from sender: all are valid and
// durably stored, or none is — except that a notification reaching more
// than PartSize users is stored on its own, in parts, before the rest of
// the batch; a sender's retry with idempotency keys completes a batch that
// failed midway. Validation errors (a *validate.Error) name
// fields as "notifications[i]....". Results are in request order. A
// notification whose idempotency key sender used before within the store's
// window gets the first one's result with Duplicate set; if it came then
// with different content, Notify returns a *ConflictError (wrapping
// notify.ErrIdempotencyKeyReused) naming it, and the batch's other
// notifications are stored nonetheless, as with a duplicate, so that a
// retry with their keys finds them.
//
// A notification's channels get it once each, after its inbox entries are
// stored and before Notify returns, under the ID of its result, which is
// the first one's for a duplicate: the channels keep one event per ID, so
// that a retry with the key publishes what a failed publish left out and
// nothing twice. A conflict publishes nothing. Channels are not
// recipients: no preference applies to them and a result's Recipients
// counts inbox entries only.
func (s *Service) Notify(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error) {
	var v validate.Violations
	switch {
	case len(ns) == 0:
		v.Add("notifications", "at least one notification is required")
	case len(ns) > s.lim.MaxBatch:
		v.Add("notifications", "at most %d notifications, got %d", s.lim.MaxBatch, len(ns))
	}
	if v.Any() {
		return nil, s.refuse(ctx, sender, len(ns), v.Err())
	}
	now := s.now()
	out := make([]*notify.Notification, len(ns))
	for i, n := range ns {
		out[i] = validateNotification(n, s.lim, now, fmt.Sprintf("notifications[%d]", i), &v)
	}
	if err := v.Err(); err != nil {
		return nil, s.refuse(ctx, sender, len(ns), err)
	}
	return s.deliver(ctx, sender, now, out, batchKeyField)
}

func batchKeyField(i int) string { return fmt.Sprintf("notifications[%d].idempotency_key", i) }

func oneKeyField(int) string { return "notification.idempotency_key" }

// NotifyOne accepts one notification from sender, like Notify, with
// validation errors naming fields as "notification....", the field of
// NotifyRequest and of a Kafka message.
func (s *Service) NotifyOne(ctx context.Context, sender string, n *heraldv1.Notification) (store.Result, error) {
	now := s.now()
	var v validate.Violations
	out := validateNotification(n, s.lim, now, "notification", &v)
	if err := v.Err(); err != nil {
		return store.Result{}, s.refuse(ctx, sender, 1, err)
	}
	rs, err := s.deliver(ctx, sender, now, []*notify.Notification{out}, oneKeyField)
	if err != nil {
		return store.Result{}, err
	}
	return rs[0], nil
}

func (s *Service) refuse(ctx context.Context, sender string, count int, err error) error {
	s.metrics.notifications.WithLabelValues(outcomeInvalid).Add(float64(count))
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, "notification refused", "sender", sender, "err", err)
	}
	return err
}

// deliver completes validated notifications, routes and stores them. The
// notifications that fit in one part are appended together, as whole
// deliveries, in one Append; the others are stored in parts as they are
// routed. Each is published to its channels once its inbox part is stored.
func (s *Service) deliver(ctx context.Context, sender string, now time.Time, ns []*notify.Notification, keyField func(int) string) ([]store.Result, error) {
	ds := make([]store.Delivery, len(ns))
	// fanned holds the results of the notifications stored in parts; nil
	// while there are none, the common case.
	var fanned []store.Result
	settled := 0 // notifications stored and counted in the metrics
	for i, n := range ns {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, s.fail(len(ns)-settled, fmt.Errorf("ingest: new ID: %w", err))
		}
		n.ID = id.String()
		n.CreateTime = now
		if n.IdempotencyKey != "" {
			// Kept with the key's record, to tell a retry from a reuse.
			n.Fingerprint = n.ContentFingerprint()
			// Scoped so that two senders can never collide on a key; service
			// names cannot contain NUL, so the scoped form is unambiguous.
			n.IdempotencyKey = sender + "\x00" + n.IdempotencyKey
		}
		f := fanOut{s: s, n: n}
		whole, err := f.route(ctx)
		if err != nil {
			return nil, s.fail(len(ns)-settled, err)
		}
		if whole {
			ds[i] = store.Delivery{Notification: n, Recipients: f.held}
			continue
		}
		if fanned == nil {
			fanned = make([]store.Result, len(ns))
		}
		fanned[i] = f.result()
		if err := s.publish(ctx, n, fanned[i]); err != nil {
			return nil, s.fail(len(ns)-settled, err)
		}
		s.count(fanned[i], f.stored)
		settled++
	}
	// The whole deliveries go in one Append; a nil Notification marks the
	// places of the others.
	wholes := ds
	if fanned != nil {
		wholes = make([]store.Delivery, 0, len(ds))
		for _, d := range ds {
			if d.Notification != nil {
				wholes = append(wholes, d)
			}
		}
	}
	var results []store.Result
	if len(wholes) > 0 {
		var err error
		if results, err = s.app.Append(ctx, wholes); err != nil {
			return nil, s.fail(len(ns)-settled, fmt.Errorf("ingest: append: %w", err))
		}
		if len(results) != len(wholes) {
			return nil, s.fail(len(ns)-settled, fmt.Errorf("ingest: append returned %d results for %d deliveries", len(results), len(wholes)))
		}
	}
	for i, r := range results {
		if r.Incomplete {
			// The key belongs to a fan-out in parts that stopped midway,
			// which this notification now completes.
			f := fanOut{s: s, n: wholes[i].Notification}
			if err := f.resume(ctx, r); err != nil {
				return nil, s.fail(len(ns)-settled, err)
			}
			results[i] = f.result()
			if err := s.publish(ctx, f.n, results[i]); err != nil {
				return nil, s.fail(len(ns)-settled, err)
			}
			s.count(results[i], f.stored)
			settled++
			continue
		}
		if err := s.publish(ctx, wholes[i].Notification, r); err != nil {
			return nil, s.fail(len(ns)-settled, err)
		}
		s.count(r, r.Recipients)
		settled++
	}
	if fanned != nil {
		j := 0
		for i, d := range ds {
			if d.Notification != nil {
				fanned[i] = results[j]
				j++
			}
		}
		results = fanned
	}
	return results, conflicts(results, keyField)
}

// publish appends n to its channels' histories under r.ID, the ID its
// inbox part is stored under (see Notify); a conflict publishes nothing.
func (s *Service) publish(ctx context.Context, n *notify.Notification, r store.Result) error {
	if len(n.Channels) == 0 || r.Conflict {
		return nil
	}
	if n.ID != r.ID {
		// A duplicate of a notification stored earlier: nothing of n is
		// stored, so nobody shares n yet, and it takes the first one's ID,
		// under which the channels may hold it already.
		n.ID = r.ID
	}
	if _, err := s.app.Publish(ctx, n, n.Channels); err != nil {
		return fmt.Errorf("ingest: publish %s: %w", n.ID, err)
	}
	if !r.Duplicate {
		s.metrics.channelEvents.Add(float64(len(n.Channels)))
	}
	return nil
}

// conflicts is a *ConflictError naming the results that are conflicts, or
// nil.
func conflicts(rs []store.Result, keyField func(int) string) error {
	var e *ConflictError
	for i, r := range rs {
		if r.Conflict {
			if e == nil {
				e = &ConflictError{}
			}
			e.Conflicts = append(e.Conflicts, KeyConflict{Field: keyField(i), ID: r.ID})
		}
	}
	if e == nil {
		return nil
	}
	return e
}

// count records a result in the metrics; created is how many inbox entries
// this call added.
func (s *Service) count(r store.Result, created int) {
	if r.Conflict {
		s.metrics.notifications.WithLabelValues(outcomeConflict).Inc()
		return
	}
	if r.Duplicate {
		s.metrics.notifications.WithLabelValues(outcomeDuplicate).Inc()
		return
	}
	s.metrics.notifications.WithLabelValues(outcomeAccepted).Inc()
	s.metrics.recipients.Add(float64(created))
}

func (s *Service) fail(count int, err error) error {
	s.metrics.notifications.WithLabelValues(outcomeFailed).Add(float64(count))
	return err
}
