package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/heraldhq/herald/internal/ingest"
)

// Headers added to a dead letter.
const (
	HeaderError           = "x-herald-error"
	HeaderErrorDetail     = "x-herald-error-detail"
	HeaderSourceTopic     = "x-herald-source-topic"
	HeaderSourcePartition = "x-herald-source-partition"
	HeaderSourceOffset    = "x-herald-source-offset"
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

// drain handles q's messages in order. Once ctx ended the rest are
// abandoned uncommitted; the group redelivers them.
func (h *handler) drain(ctx context.Context, q <-chan kafkago.Message) {
	for m := range q {
		if ctx.Err() != nil {
			continue
		}
		h.handle(ctx, m)
	}
}

// handle stores m or dead-letters it, then commits it. It returns without
// committing only when ctx ended.
func (h *handler) handle(ctx context.Context, m kafkago.Message) {
	start := time.Now()
	reason, cause := h.notify(ctx, m)
	if reason == "" && cause != nil {
		return // ctx ended before m was stored
	}
	if reason != "" {
		if !h.deadLetter(ctx, m, reason, cause) {
			return
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := h.r.CommitMessages(cctx, m); err != nil {
		// A later commit of the partition covers this offset; if none
		// comes, the message is redelivered and its idempotency key (or
		// the dead-letter reader) absorbs the repeat.
		h.c.metrics.retries.WithLabelValues(opCommit).Inc()
		h.c.log.WarnContext(ctx, "kafka commit failed", "partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	h.c.metrics.committed.Inc()
	h.c.metrics.latency.Observe(time.Since(start).Seconds())
}

// notify hands m to the notifier, retrying temporary failures until ctx
// ends. A non-empty reason means m is bad and belongs in the dead-letter
// topic; an empty reason with a nil cause means it was stored.
func (h *handler) notify(ctx context.Context, m kafkago.Message) (reason string, cause error) {
	if len(m.Value) > h.c.cfg.MaxMessageBytes {
		return reasonOversize, fmt.Errorf("value is %d bytes, limit %d", len(m.Value), h.c.cfg.MaxMessageBytes)
	}
	n, err := decode(m, h.c.cfg.Strict)
	if err != nil {
		return reasonDecode, err
	}
	b := h.backoff()
	for {
		_, err := h.c.notifier.NotifyOne(ctx, h.c.sender, n)
		if err == nil {
			return "", nil
		}
		if ve, ok := errors.AsType[*ingest.ValidationError](err); ok {
			return reasonInvalid, ve
		}
		if ctx.Err() != nil {
			return "", err
		}
		h.c.metrics.retries.WithLabelValues(opNotify).Inc()
		h.c.log.WarnContext(ctx, "kafka message not stored, retrying",
			"partition", m.Partition, "offset", m.Offset, "err", err)
		if !b.wait(ctx) {
			return "", err
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
		if _, ok := errors.AsType[kafkago.MessageTooLargeError](err); ok && dl.Value != nil {
			// Better a dead letter without its value than a stuck partition.
			dl.Value = nil
			continue
		}
		h.c.metrics.retries.WithLabelValues(opDeadLetter).Inc()
		h.c.log.WarnContext(ctx, "kafka dead letter not written, retrying",
			"partition", m.Partition, "offset", m.Offset, "err", err)
		if !b.wait(ctx) {
			return false
		}
	}
}

func (h *handler) backoff() *backoff {
	return &backoff{next: h.c.cfg.RetryMin, max: h.c.cfg.RetryMax}
}

// backoff is capped exponential backoff with jitter, so that consumers
// recovering together do not hit the store in step.
type backoff struct {
	next, max time.Duration
}

// wait sleeps for the next delay; false means ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.next/2 + rand.N(b.next/2+1)
	b.next = min(2*b.next, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
