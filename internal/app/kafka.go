package app

import (
	"context"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/internal/kafka"
)

// embeddedPartitions is the partition count of the embedded broker's topic.
const embeddedPartitions = 6

// startEmbeddedKafka starts an in-process Kafka-protocol broker with the
// notification topic and its dead-letter topic created, for development on
// a machine with no broker. It returns the broker's address.
func startEmbeddedKafka(addr, topic string) (*kfake.Cluster, string, error) {
	var lisErr error // kfake may not wrap it; keep it to name the flag
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			lis, err := net.Listen(network, addr)
			lisErr = err
			return lis, err
		}),
		kfake.SeedTopics(embeddedPartitions, topic, topic+".dlq"),
	)
	if lisErr != nil {
		return nil, "", listenError("--kafka-embedded-addr", addr, lisErr)
	}
	if err != nil {
		return nil, "", fmt.Errorf("app: embedded kafka on %s: %w", addr, err)
	}
	return c, c.ListenAddrs()[0], nil
}

// runKafka consumes until ctx ends; done is closed when the consumer has
// committed what it finished, so that shutdown can wait for it first.
func runKafka(ctx context.Context, c *kafka.Consumer, done chan<- struct{}) error {
	defer close(done)
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("app: kafka consumer: %w", err)
	}
	return nil
}
