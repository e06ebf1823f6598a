package notify_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

// marshalPayload is what the payload was before it had its own encoder:
// encoding/json over the fields. Clients see the same bytes.
func marshalPayload(t testing.TB, n *notify.Notification, topic notify.Topic) []byte {
	t.Helper()
	p := struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Title     string          `json:"title"`
		Body      string          `json:"body,omitempty"`
		Data      json.RawMessage `json:"data,omitempty"`
		Topic     notify.Topic    `json:"topic,omitempty"`
		Category  string          `json:"category,omitempty"`
		Priority  string          `json:"priority"`
		CreatedAt string          `json:"created_at"`
		ExpiresAt string          `json:"expires_at,omitempty"`
	}{
		ID:        n.ID,
		Type:      n.EventType(),
		Title:     n.Title,
		Body:      n.Body,
		Data:      n.Data,
		Topic:     topic,
		Category:  n.Category,
		Priority:  n.Priority.String(),
		CreatedAt: n.CreateTime.UTC().Format(time.RFC3339Nano),
	}
	if !n.ExpireTime.IsZero() {
		p.ExpiresAt = n.ExpireTime.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

func TestPayloadMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.FixedZone("x", 3600))
	tests := []struct {
		name  string
		n     *notify.Notification
		topic notify.Topic
	}{
		{name: "minimal", n: &notify.Notification{ID: "n1", CreateTime: created}},
		{name: "every field", topic: "orders/1", n: &notify.Notification{
			ID: "n2", Type: "order.shipped", Title: "Shipped", Body: "Your order is on its way",
			Data: json.RawMessage(`{"order":42,"tags":["a","b"],"n":null}`), Category: "orders",
			Priority: notify.PriorityCritical, CreateTime: created, ExpireTime: created.Add(time.Hour),
		}},
		{name: "escapes", n: &notify.Notification{
			ID: `q"\`, Title: "<b>a & b</b>\u2028\u2029\x00\x1f\x7f\b\f\t\r\n", Body: "caf\xe9 \xff ok é 🎉",
			Data:       json.RawMessage(`{"html":"<script>&amp;</script>","ls":"\u2028 \u2029","esc":"\"\\\n"}`),
			CreateTime: created,
		}},
		{name: "raw line separators in data", n: &notify.Notification{
			ID: "n3", Data: json.RawMessage("{\"k\":\"a\u2028b\u2029c\u2027\"}"), CreateTime: created,
		}},
		{name: "zero time", n: &notify.Notification{ID: "n4", Priority: notify.PriorityLow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.n.PayloadFor(tt.topic)
			if want := marshalPayload(t, tt.n, tt.topic); !bytes.Equal(got, want) {
				t.Errorf("payload\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestPayloadRefusesBrokenData: data with a control character, which ingest
// never stores, is left out rather than allowed to break the SSE line.
func TestPayloadRefusesBrokenData(t *testing.T) {
	t.Parallel()
	n := &notify.Notification{ID: "n1", Title: "t", Data: json.RawMessage("{\"k\":\n\"v\"}")}
	p := n.Payload()
	if bytes.ContainsAny(p, "\r\n") || bytes.Contains(p, []byte(`"data"`)) {
		t.Fatalf("payload = %s, want it without data", p)
	}
	var got map[string]any
	if err := json.Unmarshal(p, &got); err != nil || got["title"] != "t" {
		t.Fatalf("payload %s: %v, %v", p, got, err)
	}
}

func FuzzPayload(f *testing.F) {
	f.Add("n1", "order.shipped", "Hello <b>&</b>", "body\n\u2028", []byte(`{"a":[1,"<x>"]}`), "orders/1", "cat", int8(3), int64(1767323045), int64(0))
	f.Add("", "", "", "", []byte(nil), "", "", int8(0), int64(0), int64(5))
	f.Fuzz(func(t *testing.T, id, typ, title, body string, data []byte, topic, category string, prio int8, created, expires int64) {
		n := &notify.Notification{
			ID: id, Type: typ, Title: title, Body: body, Category: category,
			Priority:   notify.Priority(prio),
			CreateTime: time.Unix(created%(1<<35), created%1e9),
		}
		if expires != 0 {
			n.ExpireTime = time.Unix(expires%(1<<35), 0)
		}
		// Ingest stores data as compact JSON; anything else is not data.
		var buf bytes.Buffer
		if json.Valid(data) && json.Compact(&buf, data) == nil && buf.Len() > 0 {
			n.Data = buf.Bytes()
		}
		got := n.PayloadFor(notify.Topic(topic))
		if want := marshalPayload(t, n, notify.Topic(topic)); !bytes.Equal(got, want) {
			t.Fatalf("payload\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkPayload encodes a typical payload; encoding-json is the
// reflection-based encoding it replaced, as the baseline.
func BenchmarkPayload(b *testing.B) {
	newN := func() *notify.Notification {
		return &notify.Notification{
			ID: "01JD8X3Q4R5S6T7V8W9XAYBZC0", Type: "order.shipped", Title: "Your order has shipped",
			Body: "Order 1042 left the warehouse & is on its way.", Data: json.RawMessage(`{"order":1042,"carrier":"dhl","eta":"2026-11-26"}`),
			Category: "orders", Priority: notify.PriorityHigh, CreateTime: time.Date(2026, 11, 24, 1, 2, 3, 456789000, time.UTC),
		}
	}
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newN().Payload()
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = marshalPayload(b, newN(), "")
		}
	})
}
