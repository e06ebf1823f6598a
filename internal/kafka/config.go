// Package kafka consumes notifications from a Kafka topic as a consumer
// group and feeds them to the same ingest path as the Notify API. Offsets are
// committed only after the notification is durably stored, or after a bad
// message was written to the dead-letter topic, so delivery is at least
// once and a bad message never blocks its partition.
package kafka

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config's zero values.
const (
	DefaultTopic           = "herald.notifications"
	DefaultGroup           = "herald"
	DefaultMaxMessageBytes = 1 << 20
	DefaultMaxWait         = 250 * time.Millisecond
	DefaultRetryMin        = 50 * time.Millisecond
	DefaultRetryMax        = 5 * time.Second
	DefaultBatchSize       = 100
	DefaultSessionTimeout  = 10 * time.Second
)

// Config configures a Consumer. Zero values mean the documented defaults.
type Config struct {
	// Brokers are the bootstrap addresses (host:port). Required.
	Brokers []string
	// Topic is consumed; default DefaultTopic.
	Topic string
	// Group is the consumer group ID; default DefaultGroup.
	Group string
	// DLQTopic receives bad messages; default Topic + ".dlq".
	DLQTopic string
	// MaxMessageBytes bounds a message's value; larger ones are dead-lettered.
	// Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// Strict makes unknown JSON fields an error instead of being ignored.
	Strict bool
	// MaxWait is how long a fetch waits for data. Closing the reader blocks
	// for about this long, so it is kept short. Default DefaultMaxWait.
	MaxWait time.Duration
	// RetryMin and RetryMax bound the exponential backoff between attempts
	// when the store or the dead-letter topic is unavailable. Defaults
	// DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
	// BatchSize bounds how many messages of one partition are stored with
	// one append (and committed with one commit). Default DefaultBatchSize.
	BatchSize int
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to others: after a crash, its partitions stay
	// unconsumed for this long. Heartbeats go at a third of it. Default
	// DefaultSessionTimeout; the brokers bound it (6 s by default).
	SessionTimeout time.Duration
	// Security sets TLS and SASL for every connection to the brokers; the
	// zero value is plaintext.
	Security Security
	// Registerer receives the consumer's metrics; nil does not export them.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("kafka: no brokers configured")
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DLQTopic == "" {
		c.DLQTopic = c.Topic + ".dlq"
	}
	if c.DLQTopic == c.Topic {
		return c, errors.New("kafka: dead-letter topic must differ from the consumed topic")
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	return c, nil
}
