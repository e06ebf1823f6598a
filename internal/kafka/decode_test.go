package kafka

import (
	"strings"
	"testing"
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
		{"no key: the offset", `{"title":"t"}`, nil, "kafka-offset/3/1234"},
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
