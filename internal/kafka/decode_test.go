package kafka

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"
)

func TestDecodeIdempotencyKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", maxPlainKey+1)
	for _, tc := range []struct {
		name  string
		value string
		key   []byte
		want  string
	}{
		{"own key wins", `{"title":"t","idempotencyKey":"mine"}`, []byte("kafka-key"), "mine"},
		{"kafka key", `{"title":"t"}`, []byte("order-42"), "order-42"},
		{"unicode kafka key", `{"title":"t"}`, []byte("zamówienie-42"), "zamówienie-42"},
		{"binary key hashed", `{"title":"t"}`, []byte{0, 1, 2, 0xff}, "kafka-key-sha256/"},
		{"control character hashed", `{"title":"t"}`, []byte("a\nb"), "kafka-key-sha256/"},
		{"line separator hashed", `{"title":"t"}`, []byte("a\u2028b"), "kafka-key-sha256/"},
		{"long key hashed", `{"title":"t"}`, []byte(long), "kafka-key-sha256/"},
		{"longest plain key", `{"title":"t"}`, []byte(long[1:]), long[1:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := decode(kafkago.Message{Partition: 3, Offset: 1234, Key: tc.key, Value: []byte(tc.value)}, false)
			if err != nil {
				t.Fatal(err)
			}
			got := n.GetIdempotencyKey()
			if strings.HasSuffix(tc.want, "/") {
				// Hashed: the prefix, 64 hex digits, and the same hash each time.
				again, _ := decode(kafkago.Message{Key: tc.key, Value: []byte(tc.value)}, false)
				if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+64 || again.GetIdempotencyKey() != got {
					t.Errorf("key %q, want %s followed by a stable SHA-256", got, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Errorf("key %q, want %q", got, tc.want)
			}
		})
	}
}

// TestKeylessKey: without a Kafka key, the derived idempotency key is the
// same for a redelivery (the same bytes at the same offset) and differs
// for any other message, at the same offset too: a broker that restarted
// empty, or a topic recreated, reuses offsets.
func TestKeylessKey(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := kafkago.Message{Topic: "n", Partition: 3, Offset: 1234, Time: at,
		Headers: []kafkago.Header{{Key: "h", Value: []byte("v")}}, Value: []byte(`{"title":"t"}`)}
	key := keyOf(base)
	if !strings.HasPrefix(key, "kafka-msg/3/1234/") || len(key) != len("kafka-msg/3/1234/")+32 {
		t.Fatalf("key %q, want kafka-msg/3/1234/ and 32 hex digits", key)
	}
	redelivered := base
	redelivered.Headers = slices.Clone(base.Headers)
	redelivered.Value = slices.Clone(base.Value)
	redelivered.HighWaterMark = 99 // not part of the message
	if got := keyOf(redelivered); got != key {
		t.Errorf("redelivery key %q, want %q", got, key)
	}
	for name, mod := range map[string]func(*kafkago.Message){
		"value":        func(m *kafkago.Message) { m.Value = []byte(`{"title":"u"}`) },
		"time":         func(m *kafkago.Message) { m.Time = at.Add(time.Millisecond) },
		"header value": func(m *kafkago.Message) { m.Headers = []kafkago.Header{{Key: "h", Value: []byte("w")}} },
		"header moved": func(m *kafkago.Message) { m.Headers = []kafkago.Header{{Key: "hv", Value: nil}} },
		"no headers":   func(m *kafkago.Message) { m.Headers = nil },
		"topic":        func(m *kafkago.Message) { m.Topic = "n2" },
		"offset":       func(m *kafkago.Message) { m.Offset++ },
		"partition":    func(m *kafkago.Message) { m.Partition++ },
	} {
		m := base
		mod(&m)
		if got := keyOf(m); got == key {
			t.Errorf("another %s, same key %q", name, got)
		}
	}
}

func TestIsProtobuf(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/x-protobuf":                               true,
		"Application/Protobuf":                                 true,
		"application/x-protobuf; proto=herald.v1.Notification": true,
		"application/json":                                     false,
		"":                                                     false,
	} {
		if got := isProtobuf([]kafkago.Header{{Key: "Content-Type", Value: []byte(ct)}}); got != want {
			t.Errorf("content-type %q: protobuf %v, want %v", ct, got, want)
		}
	}
}

// Whatever a producer sends, decoding does not panic, and a decoded
// message always has an idempotency key the API would accept.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"audience":{"userIds":["u1"]},"title":"t"}`), []byte("k"), false, int64(0))
	f.Add([]byte(`{"title":"t","bogus":1}`), []byte{}, true, int64(7))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, []byte{0xff, 0x00}, false, int64(1<<40))
	f.Fuzz(func(t *testing.T, value, key []byte, proto bool, offset int64) {
		m := kafkago.Message{Key: key, Value: value, Offset: offset, Partition: 1}
		if proto {
			m.Headers = []kafkago.Header{{Key: "content-type", Value: []byte("application/x-protobuf")}}
		}
		if n, err := decode(m, false); err == nil && !utf8.ValidString(n.GetIdempotencyKey()) {
			t.Fatalf("idempotency key %q is not UTF-8", n.GetIdempotencyKey())
		}
		// A derived key passes the API's checks.
		if k := keyOf(m); k == "" || len(k) > 256 || !printable([]byte(k)) {
			t.Fatalf("derived idempotency key %q", k)
		}
	})
}
