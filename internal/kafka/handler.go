package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/backoff"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/validate"
)

// Headers added to a dead letter.
const (
	HeaderError           = "x-herald-error"
	HeaderErrorDetail     = "x-herald-error-detail"
	HeaderSourceTopic     = "x-herald-source-topic"
	HeaderSourcePartition = "x-herald-source-partition"
	HeaderSourceOffset    = "x-herald-source-offset"
	// HeaderValueDropped is set, to the value's size, when the dead-letter
	// topic refused the message as too large and it was written without its
	// value.
	HeaderValueDropped = "x-herald-value-dropped"
)

// Operations that are retried, the values of the "op" label.
const (
	opNotify     = "notify"
	opDeadLetter = "dead_letter"
	opCommit     = "commit"
)

const (
	// batchTimeout bounds how long a dead letter waits for others to share
	// its produce request; dead letters are rare, so it is short.
	batchTimeout = 5 * time.Millisecond
	// commitTimeout bounds a commit that goes on after ctx ended: the
	// message is stored, so committing it saves a redelivery.
	commitTimeout = 5 * time.Second
)

// handler processes the messages of one consumer's partitions.
type handler struct {
	c *Consumer
	r *kafkago.Reader
	w *kafkago.Writer
}

// fetched is a message and when it was fetched, for the latency metric.
type fetched struct {
	kafkago.Message
	at time.Time
}

// drain handles q's messages in order, in batches of what is already queued
// (up to BatchSize), so that a busy partition costs one append and one
// commit per batch while a quiet one adds no wait. Once ctx ended the rest
// are abandoned uncommitted; the group redelivers them.
func (h *handler) drain(ctx context.Context, q <-chan fetched) {
	batch := make([]fetched, 0, h.c.cfg.BatchSize)
	for m := range q {
		batch = append(batch[:0], m)
	fill:
		for len(batch) < cap(batch) {
			select {
			case m, ok := <-q:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if ctx.Err() != nil {
			continue
		}
		h.handle(ctx, batch)
	}
}

// handle stores or dead-letters each message of batch, in order, then
// commits the last one handled. It leaves messages uncommitted only when
// ctx ended.
func (h *handler) handle(ctx context.Context, batch []fetched) {
	done := h.process(ctx, batch)
	if done == 0 {
		return
	}
	last := batch[done-1]
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := h.r.CommitMessages(cctx, last.Message); err != nil {
		// A later commit of the partition covers these offsets; if none
		// comes, the messages are redelivered and their idempotency keys
		// (or the dead-letter reader) absorb the repeat.
		h.c.metrics.retries.WithLabelValues(opCommit).Inc()
		h.c.log.WarnContext(ctx, "kafka commit failed", "partition", last.Partition, "offset", last.Offset, "err", err)
		return
	}
	now := time.Now()
	h.c.metrics.committed.Add(float64(done))
	for _, m := range batch[:done] {
		h.c.metrics.latency.Observe(now.Sub(m.at).Seconds())
	}
	// The high watermark is the partition's as of the fetch, so this is the
	// lag this consumer last saw.
	h.c.metrics.lag.WithLabelValues(strconv.Itoa(last.Partition)).Set(float64(max(last.HighWaterMark-last.Offset-1, 0)))
}

// process stores the good messages of batch and dead-letters the bad ones,
// keeping their order: each run of good messages is one append. It returns
// how many messages, from the start, are finished; fewer than len(batch)
// only when ctx ended.
func (h *handler) process(ctx context.Context, batch []fetched) int {
	ns := make([]*heraldv1.Notification, 0, len(batch))
	run := 0 // start of the current run of good messages
	for i, m := range batch {
		n, reason, cause := h.decode(m.Message)
		if reason == "" {
			ns = append(ns, n)
			continue
		}
		if done := h.store(ctx, batch[run:i], ns); done < i-run {
			return run + done
		}
		if !h.deadLetter(ctx, m.Message, reason, cause) {
			return i
		}
		run, ns = i+1, ns[:0]
	}
	return run + h.store(ctx, batch[run:], ns)
}

// decode turns m into a notification; a non-empty reason means m is bad.
func (h *handler) decode(m kafkago.Message) (n *heraldv1.Notification, reason string, cause error) {
	if len(m.Value) > h.c.cfg.MaxMessageBytes {
		return nil, reasonOversize, fmt.Errorf("value is %d bytes, limit %d", len(m.Value), h.c.cfg.MaxMessageBytes)
	}
	n, err := decode(m, h.c.cfg.Strict)
	if err != nil {
		return nil, reasonDecode, err
	}
	return n, "", nil
}

// store hands ns, decoded from ms, to the notifier as one batch, retrying
// temporary failures. If the batch is refused as invalid, its messages are
// stored one by one and the invalid ones dead-lettered. It returns how many
// of ms are finished, from the start; fewer than len(ms) only when ctx
// ended.
func (h *handler) store(ctx context.Context, ms []fetched, ns []*heraldv1.Notification) int {
	if len(ns) == 0 {
		return 0
	}
	err := h.notify(ctx, ns)
	if err == nil {
		return len(ms)
	}
	reason := refusal(err)
	if reason == "" {
		return 0 // ctx ended
	}
	if len(ns) == 1 {
		if h.deadLetter(ctx, ms[0].Message, reason, err) {
			return 1
		}
		return 0
	}
	// Rare: find the refused ones. After a conflict the batch's others are
	// stored already, and come back as duplicates.
	for i := range ns {
		if h.store(ctx, ms[i:i+1], ns[i:i+1]) == 0 {
			return i
		}
	}
	return len(ms)
}

// refusal is the dead-letter reason of an error that refuses messages for
// good, or "".
func refusal(err error) string {
	if _, ok := errors.AsType[*validate.Error](err); ok {
		return reasonInvalid
	}
	if _, ok := errors.AsType[*ingest.ConflictError](err); ok {
		return reasonConflict
	}
	return ""
}

// notify stores ns, retrying temporary failures until ctx ends. It returns
// nil once stored, a *validate.Error or *ingest.ConflictError if
// ns is refused for good, or ctx's end.
func (h *handler) notify(ctx context.Context, ns []*heraldv1.Notification) error {
	b := h.backoff()
	for {
		_, err := h.c.notifier.Notify(ctx, h.c.sender, ns)
		if err == nil {
			return nil
		}
		if refusal(err) != "" {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		h.c.metrics.retries.WithLabelValues(opNotify).Inc()
		h.c.log.WarnContext(ctx, "kafka messages not stored, retrying", "count", len(ns), "err", err)
		if !b.Wait(ctx) {
			return err
		}
	}
}

// deadLetter writes m to the dead-letter topic, retrying until it succeeds
// or ctx ends; it reports whether it succeeded.
func (h *handler) deadLetter(ctx context.Context, m kafkago.Message, reason string, cause error) bool {
	dl := kafkago.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: append(m.Headers[:len(m.Headers):len(m.Headers)],
			kafkago.Header{Key: HeaderError, Value: []byte(reason)},
			kafkago.Header{Key: HeaderErrorDetail, Value: []byte(cause.Error())},
			kafkago.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
			kafkago.Header{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(m.Partition))},
			kafkago.Header{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		),
	}
	b := h.backoff()
	for {
		err := h.w.WriteMessages(ctx, dl)
		if err == nil {
			h.c.metrics.deadLettered.WithLabelValues(reason).Inc()
			if h.c.log.Enabled(ctx, slog.LevelInfo) {
				h.c.log.InfoContext(ctx, "kafka message dead-lettered", "partition", m.Partition,
					"offset", m.Offset, "reason", reason, "err", cause)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if dl.Value != nil && tooLarge(err) {
			// Better a dead letter without its value than a stuck
			// partition: the source offset still leads to it.
			dl.Value = nil
			dl.Headers = append(dl.Headers, kafkago.Header{Key: HeaderValueDropped, Value: []byte(strconv.Itoa(len(m.Value)))})
			continue
		}
		h.c.metrics.retries.WithLabelValues(opDeadLetter).Inc()
		h.c.log.WarnContext(ctx, "kafka dead letter not written, retrying",
			"partition", m.Partition, "offset", m.Offset, "err", err)
		if !b.Wait(ctx) {
			return false
		}
	}
}

// tooLarge reports whether a write failed because the message is larger
// than the writer (kafkago.MessageTooLargeError) or the broker
// (kafkago.MessageSizeTooLarge) allows.
func tooLarge(err error) bool {
	if we, ok := errors.AsType[kafkago.WriteErrors](err); ok {
		return slices.ContainsFunc(we, func(e error) bool { return e != nil && tooLarge(e) })
	}
	_, ok := errors.AsType[kafkago.MessageTooLargeError](err)
	return ok || errors.Is(err, kafkago.MessageSizeTooLarge)
}

// backoff paces one operation's retries, jittered so that consumers
// recovering together do not hit the store in step.
func (h *handler) backoff() *backoff.Backoff {
	return &backoff.Backoff{Min: h.c.cfg.RetryMin, Max: h.c.cfg.RetryMax}
}
