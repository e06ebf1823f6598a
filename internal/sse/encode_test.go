package sse_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

func encode(f func(*sse.Encoder)) string {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	f(sse.NewEncoder(w))
	w.Flush()
	return buf.String()
}

func TestEncoderExactBytes(t *testing.T) {
	t.Parallel()
	n := &notify.Notification{
		ID: "n1", Type: "order.shipped", Title: "Shipped",
		CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	tests := []struct {
		name string
		enc  func(*sse.Encoder)
		want string
	}{
		{"retry", func(e *sse.Encoder) { e.Retry(3 * time.Second) }, "retry: 3000\n\n"},
		{"retry jittered", func(e *sse.Encoder) { e.Retry(4321 * time.Millisecond) }, "retry: 4321\n\n"},
		{"comment", func(e *sse.Encoder) { e.Comment("keep-alive") }, ": keep-alive\n\n"},
		{"comment newline", func(e *sse.Encoder) { e.Comment("a\nb") }, ": a_b\n\n"},
		{
			"entry",
			func(e *sse.Encoder) { e.Entry(notify.Entry{User: "u", Cursor: 42, Notification: n}, []byte("42")) },
			"id: 42\nevent: order.shipped\ndata: " + string(n.Payload()) + "\n\n",
		},
		{
			"entry default type",
			func(e *sse.Encoder) {
				e.Entry(notify.Entry{User: "u", Cursor: 1, Notification: &notify.Notification{ID: "x", CreateTime: n.CreateTime}}, []byte("1"))
			},
			"id: 1\nevent: notification\ndata: {\"id\":\"x\",\"type\":\"notification\",\"title\":\"\",\"priority\":\"normal\",\"created_at\":\"2026-01-02T03:04:05Z\"}\n\n",
		},
		{
			"message",
			func(e *sse.Encoder) { e.Message(notify.Entry{User: "u", Cursor: 42, Notification: n}, []byte("42")) },
			"id: 42\ndata: " + string(n.Payload()) + "\n\n",
		},
		{
			"message of a read state stays named",
			func(e *sse.Encoder) {
				e.Message(notify.Entry{User: "u", Counts: &notify.Counts{Unread: 2, Unseen: 3}}, []byte("42"))
			},
			"event: read\ndata: {\"unread\":2,\"unseen\":3}\n\n",
		},
		{"event without id", func(e *sse.Encoder) { e.Event(nil, "token-expired", []byte(`{}`)) }, "event: token-expired\ndata: {}\n\n"},
		{"event id zero", func(e *sse.Encoder) { e.Event([]byte("0"), "reset", []byte(`{}`)) }, "id: 0\nevent: reset\ndata: {}\n\n"},
		{"no name", func(e *sse.Encoder) { e.Event([]byte("7"), "", []byte(`x`)) }, "id: 7\ndata: x\n\n"},
		{"empty data", func(e *sse.Encoder) { e.Event([]byte("7"), "e", nil) }, "id: 7\nevent: e\ndata: \n\n"},
		{
			"injected name",
			func(e *sse.Encoder) { e.Event([]byte("7"), "a\n\nevent: evil\r\ndata: x\r", []byte(`{}`)) },
			"id: 7\nevent: a__event: evil__data: x_\ndata: {}\n\n",
		},
		{
			"multi-line data",
			func(e *sse.Encoder) { e.Event([]byte("7"), "e", []byte("a\nb\r\nc\rd\n\nid: 9")) },
			"id: 7\nevent: e\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: id: 9\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := encode(tt.enc); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// FuzzEncodeEvent checks that no type or payload can make a frame that a
// client reads as anything but exactly one event with the expected id, name
// and data.
func FuzzEncodeEvent(f *testing.F) {
	f.Add(uint64(1), "notification", []byte(`{"a":1}`))
	f.Add(uint64(0), "", []byte(""))
	f.Add(uint64(18446744073709551615), "a\nb", []byte("x\r\ny\rz\n"))
	f.Add(uint64(5), "x\r\n\r\nevent: evil", []byte("\n\ndata: evil\n\nid: 6\n\n"))
	f.Add(uint64(5), ": comment", []byte(": not a comment\nretry: 1"))
	f.Add(uint64(5), " leading", []byte(" leading\r"))
	f.Fuzz(func(t *testing.T, id uint64, name string, data []byte) {
		out := encode(func(e *sse.Encoder) { e.Event(notify.Cursor(id).AppendTo(nil), name, data) })
		frames, err := parseAll(out)
		if err != nil {
			t.Fatalf("parse %q: %v", out, err)
		}
		if len(frames) != 1 {
			t.Fatalf("got %d frames from %q, want 1", len(frames), out)
		}
		fr := frames[0]
		if len(fr.comments) != 0 {
			t.Errorf("comments %q in %q", fr.comments, out)
		}
		wantName := strings.NewReplacer("\r", "_", "\n", "_").Replace(name)
		counts := map[string]int{}
		for _, fl := range fr.fields {
			counts[fl.name]++
			switch fl.name {
			case "id", "event", "data":
			default:
				t.Fatalf("extra field %q in %q", fl.name, out)
			}
		}
		if counts["id"] != 1 || counts["event"] > 1 || (counts["event"] == 1) != (name != "") {
			t.Fatalf("field counts %v in %q", counts, out)
		}
		if got, want := fr.id(), notify.Cursor(id).String(); got != want {
			t.Errorf("id = %q, want %q", got, want)
		}
		if got := fr.event(); got != wantName {
			t.Errorf("event = %q, want %q", got, wantName)
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if got := fr.data(); got != wantData {
			t.Errorf("data = %q, want %q", got, wantData)
		}
		if !fr.dispatches() {
			t.Error("frame would not be dispatched")
		}
	})
}

func BenchmarkEncodeEntry(b *testing.B) {
	n := &notify.Notification{
		ID: "01J9Z8Q4N5", Type: "order.shipped", Title: "Your order has shipped",
		Body: "Parcel 1Z999 is on its way", CreateTime: time.Now(),
	}
	en := notify.Entry{User: "alice", Cursor: 123456, Notification: n}
	_ = en.Payload() // encoded once per notification, not per connection
	id := []byte("123456")
	w := bufio.NewWriter(io.Discard)
	e := sse.NewEncoder(w)
	b.ReportAllocs()
	b.SetBytes(int64(len(encode(func(e *sse.Encoder) { e.Entry(en, id) }))))
	b.ResetTimer()
	for range b.N {
		e.Entry(en, id)
	}
	w.Flush()
}

// BenchmarkEncodeMessage is BenchmarkEncodeEntry with events=message.
func BenchmarkEncodeMessage(b *testing.B) {
	n := &notify.Notification{
		ID: "01J9Z8Q4N5", Type: "order.shipped", Title: "Your order has shipped",
		Body: "Parcel 1Z999 is on its way", CreateTime: time.Now(),
	}
	en := notify.Entry{User: "alice", Cursor: 123456, Notification: n}
	_ = en.Payload()
	id := []byte("123456")
	w := bufio.NewWriter(io.Discard)
	e := sse.NewEncoder(w)
	b.ReportAllocs()
	b.SetBytes(int64(len(encode(func(e *sse.Encoder) { e.Message(en, id) }))))
	b.ResetTimer()
	for range b.N {
		e.Message(en, id)
	}
	w.Flush()
}
