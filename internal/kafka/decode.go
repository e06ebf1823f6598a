package kafka

import (
	"fmt"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// decode reads a message's value as a Notification: binary protobuf when
// its content-type header says so, protojson otherwise. The Kafka key
// becomes the idempotency key when the message has none, so that a
// redelivered message is not stored twice.
func decode(m kafkago.Message, strict bool) (*heraldv1.Notification, error) {
	n := new(heraldv1.Notification)
	if isProtobuf(m.Headers) {
		if err := proto.Unmarshal(m.Value, n); err != nil {
			return nil, fmt.Errorf("protobuf: %w", err)
		}
	} else {
		opts := protojson.UnmarshalOptions{DiscardUnknown: !strict}
		if err := opts.Unmarshal(m.Value, n); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
	}
	if n.GetIdempotencyKey() == "" && len(m.Key) > 0 {
		n.IdempotencyKey = string(m.Key)
	}
	return n, nil
}

func isProtobuf(hs []kafkago.Header) bool {
	for _, h := range hs {
		if !strings.EqualFold(h.Key, "content-type") {
			continue
		}
		// Parameters such as "; proto=herald.v1.Notification" are allowed.
		ct, _, _ := strings.Cut(string(h.Value), ";")
		switch strings.ToLower(strings.TrimSpace(ct)) {
		case "application/x-protobuf", "application/protobuf":
			return true
		}
		return false
	}
	return false
}
