package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/store"
)

// Notifier stores a batch of notifications, all or none, in order;
// *ingest.Service implements it. A *validate.Error marks the batch
// as bad for good (the consumer then finds the bad ones one at a time); any
// other error is taken as temporary and the batch is retried.
type Notifier interface {
	Notify(ctx context.Context, sender string, ns []*heraldv1.Notification) ([]store.Result, error)
}

// partitionQueue is how many fetched messages may wait for one partition's
// worker before the fetch loop blocks; the reader buffers more behind it.
// It is above the default batch size so that a busy partition's next batch
// is queued while the current one is stored.
const partitionQueue = 256

// Consumer reads notifications from a Kafka topic as a member of a consumer
// group and hands each to a Notifier.
type Consumer struct {
	cfg      Config
	notifier Notifier
	sender   string
	log      *slog.Logger
	metrics  *metrics
	running  atomic.Bool
	// dialer (the reader's) and transport (the dead-letter writer's) carry
	// cfg.Security, built once so that a bad setting fails NewConsumer.
	dialer    *kafkago.Dialer
	transport *kafkago.Transport
}

// NewConsumer returns a Consumer; it connects to no broker until Run.
func NewConsumer(cfg Config, notifier Notifier, log *slog.Logger) (*Consumer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if notifier == nil {
		return nil, errors.New("kafka: nil notifier")
	}
	tlsCfg, mech, err := cfg.Security.build()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("topic", cfg.Topic, "group", cfg.Group)
	return &Consumer{
		cfg:       cfg,
		notifier:  notifier,
		sender:    "kafka:" + cfg.Topic,
		log:       log,
		metrics:   newMetrics(cfg.Registerer, log),
		dialer:    newDialer(tlsCfg, mech),
		transport: newTransport(tlsCfg, mech),
	}, nil
}

// Run consumes until ctx ends, then returns once every fetched message was
// either committed or abandoned uncommitted (to be redelivered to the
// group). Messages of one partition are processed in order, partitions
// concurrently. It returns an error only if consuming failed for another
// reason than ctx ending. Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("kafka: consumer already ran")
	}
	r := kafkago.NewReader(c.readerConfig())
	w := c.newWriter()
	c.log.InfoContext(ctx, "kafka consumer started", "brokers", c.cfg.Brokers)

	var (
		wg      sync.WaitGroup
		queues  = make(map[int]chan fetched)
		runErr  error
		handler = &handler{c: c, r: r, w: w}
	)
	for ctx.Err() == nil {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				runErr = fmt.Errorf("kafka: fetch from %s: %w", c.cfg.Topic, err)
			}
			break
		}
		c.metrics.consumed.Inc()
		q, ok := queues[m.Partition]
		if !ok {
			q = make(chan fetched, partitionQueue)
			queues[m.Partition] = q
			wg.Go(func() { handler.drain(ctx, q) })
		}
		select {
		case q <- fetched{Message: m, at: time.Now()}:
		case <-ctx.Done():
		}
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("kafka: close reader: %w", err))
	}
	if err := w.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("kafka: close dead-letter writer: %w", err))
	}
	// The writer leaves a transport it was given open.
	c.transport.CloseIdleConnections()
	c.log.InfoContext(context.WithoutCancel(ctx), "kafka consumer stopped")
	return runErr
}

func (c *Consumer) readerConfig() kafkago.ReaderConfig {
	return kafkago.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		GroupID:           c.cfg.Group,
		Topic:             c.cfg.Topic,
		MinBytes:          1,
		MaxBytes:          c.fetchBytes(),
		MaxWait:           c.cfg.MaxWait,
		StartOffset:       kafkago.FirstOffset,
		Dialer:            c.dialer,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.SessionTimeout / 3,
		// Zero commits synchronously: CommitMessages returns once the
		// broker has the offset, which is what "committed after stored"
		// needs.
		CommitInterval: 0,
		Logger:         kafkago.LoggerFunc(c.logf(slog.LevelDebug)),
		ErrorLogger:    kafkago.LoggerFunc(c.logf(slog.LevelWarn)),
	}
}

// fetchBytes leaves room for oversize messages to be fetched (and then
// dead-lettered) rather than stall the partition.
func (c *Consumer) fetchBytes() int {
	return max(4*c.cfg.MaxMessageBytes, 10<<20)
}

func (c *Consumer) newWriter() *kafkago.Writer {
	return &kafkago.Writer{
		Addr:      kafkago.TCP(c.cfg.Brokers...),
		Topic:     c.cfg.DLQTopic,
		Transport: c.transport,
		// Keeps one key's dead letters together, in order.
		Balancer:     &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: batchTimeout,
		BatchBytes:   int64(c.fetchBytes()),
		Logger:       kafkago.LoggerFunc(c.logf(slog.LevelDebug)),
		ErrorLogger:  kafkago.LoggerFunc(c.logf(slog.LevelWarn)),
	}
}

func (c *Consumer) logf(level slog.Level) func(string, ...any) {
	return func(format string, args ...any) {
		if c.log.Enabled(context.Background(), level) {
			c.log.Log(context.Background(), level, "kafka-go: "+fmt.Sprintf(format, args...))
		}
	}
}
