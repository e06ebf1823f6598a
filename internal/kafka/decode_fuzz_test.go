package kafka

import (
	"errors"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/validate"
)

// FuzzDecodeValidate runs a message through what the consumer does with
// it before storing: decode (strict or not, JSON or protobuf), then the
// API's validation. Each message must end up either refused by decode or
// by validation as a *validate.Error, which dead-letters it, or accepted
// with an idempotency key: any other error would be retried forever and
// stall the partition.
func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(`{"audience":{"userIds":["u1"]},"title":"t"}`), []byte("k"), false, false)
	f.Add([]byte(`{"audience":{"topics":["a/b"]},"title":"t","bogus":1}`), []byte{}, false, true)
	f.Add([]byte(`{"audience":{"userIds":["u"]},"title":"t","idempotencyKey":"a\nb"}`), []byte("k"), false, false)
	f.Add([]byte(`{"audience":{"userIds":["u"]},"title":"t","expireTime":"1970-01-01T00:00:00Z","data":{"x":[1,2,{"y":null}]}}`), []byte(nil), false, true)
	f.Add([]byte{0x0a, 0x05, 0x0a, 0x03, 'u', '1', '2', 0x1a, 0x01, 't'}, []byte{0xff, 0x00}, true, false)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, value, key []byte, proto, strict bool) {
		m := kafkago.Message{Key: key, Value: value, Offset: 42, Partition: 3}
		if proto {
			m.Headers = []kafkago.Header{{Key: "content-type", Value: []byte("application/x-protobuf")}}
		}
		n, err := decode(m, strict)
		if err != nil {
			return
		}
		if n.GetIdempotencyKey() == "" {
			t.Fatal("decoded without an idempotency key")
		}
		got, err := ingest.Validate(n, ingest.Limits{}, now)
		if err != nil {
			if _, ok := errors.AsType[*validate.Error](err); !ok {
				t.Fatalf("Validate error %T %v would be retried forever", err, err)
			}
			return
		}
		if got.IdempotencyKey != n.GetIdempotencyKey() {
			t.Fatalf("idempotency key %q became %q", n.GetIdempotencyKey(), got.IdempotencyKey)
		}
	})
}
