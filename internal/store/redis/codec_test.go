package redisstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic notify.Topic
		n     *notify.Notification
	}{
		{"", &notify.Notification{ID: "a"}},
		{"orders/42", &notify.Notification{
			ID: "b", Type: "order.shipped", Title: "Shipped ✓", Body: "l1\nl2",
			Data: json.RawMessage(`{"x":1}`), Category: "orders", Priority: notify.PriorityHigh,
			CreateTime: time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC),
			ExpireTime: time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC),
		}},
	}
	for _, tt := range tests {
		topic, got, err := decodeEntry(encodeEntry(tt.topic, encodeNotification(nil, tt.n)))
		if err != nil {
			t.Fatalf("decode %s: %v", tt.n.ID, err)
		}
		if topic != tt.topic || string(got.Payload()) != string(tt.n.Payload()) ||
			!got.CreateTime.Equal(tt.n.CreateTime) || !got.ExpireTime.Equal(tt.n.ExpireTime) {
			t.Errorf("round trip of %s: topic %q, %+v; want %q, %+v", tt.n.ID, topic, got, tt.topic, tt.n)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry("t", encodeNotification(nil, &notify.Notification{ID: "x", Title: "y", CreateTime: time.Unix(1, 2)})))
	f.Add([]byte{entryV1})
	f.Fuzz(func(t *testing.T, b []byte) {
		topic, n, err := decodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes survives a round trip (the bytes may differ:
		// varints have longer spellings).
		again := encodeEntry(topic, encodeNotification(nil, n))
		topic2, n2, err := decodeEntry(again)
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		if topic2 != topic || string(n2.Payload()) != string(n.Payload()) ||
			!n2.CreateTime.Equal(n.CreateTime) || !n2.ExpireTime.Equal(n.ExpireTime) {
			t.Fatalf("decode(%x) = %q %+v, after a round trip %q %+v", b, topic, n, topic2, n2)
		}
	})
}
