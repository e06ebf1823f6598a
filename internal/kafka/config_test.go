package kafka_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/kafka"
)

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		cfg kafka.Config
		n   kafka.Notifier
	}{
		"no brokers":       {cfg: kafka.Config{}, n: newFakeNotifier(1)},
		"nil notifier":     {cfg: kafka.Config{Brokers: []string{"127.0.0.1:1"}}},
		"dlq is the topic": {cfg: kafka.Config{Brokers: []string{"127.0.0.1:1"}, Topic: "a", DLQTopic: "a"}, n: newFakeNotifier(1)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := kafka.NewConsumer(tc.cfg, tc.n, nil); err == nil {
				t.Error("NewConsumer succeeded, want an error")
			}
		})
	}
}
