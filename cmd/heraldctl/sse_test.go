package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readAll(t testing.TB, r io.Reader) ([]event, *eventReader) {
	t.Helper()
	er := newEventReader(r, "")
	var evs []event
	for range 10000 {
		ev, err := er.Next()
		if errors.Is(err, io.EOF) {
			return evs, er
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		evs = append(evs, ev)
	}
	t.Fatal("too many events")
	return nil, nil
}

func TestEventReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		want      []event
		wantRetry time.Duration
	}{
		{
			name: "herald frames",
			in:   "retry: 3000\n\nid: 1\nevent: comment.created\ndata: {\"id\":\"a\"}\n\n: keep-alive\n\nid: 2\nevent: notification\ndata: {\"id\":\"b\"}\n\n",
			want: []event{
				{ID: "1", Type: "comment.created", Data: `{"id":"a"}`},
				{ID: "2", Type: "notification", Data: `{"id":"b"}`},
			},
			wantRetry: 3 * time.Second,
		},
		{
			name: "multi-line data",
			in:   "data: first\ndata:second\ndata\ndata:  third\n\n",
			want: []event{{Type: "message", Data: "first\nsecond\n\n third"}},
		},
		{
			name: "CRLF and CR line endings",
			in:   "id: 7\r\nevent: x\r\ndata: a\r\rdata: b\rdata: c\r\n\r\n",
			want: []event{{ID: "7", Type: "x", Data: "a"}, {ID: "7", Type: "message", Data: "b\nc"}},
		},
		{
			name: "id persists and may be cleared",
			in:   "id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			want: []event{{ID: "5", Type: "message", Data: "a"}, {ID: "5", Type: "message", Data: "b"}, {ID: "", Type: "message", Data: "c"}},
		},
		{
			name: "no data means no event, but the id is kept",
			in:   "id: 9\nevent: reset\n\ndata: x\n\n",
			want: []event{{ID: "9", Type: "message", Data: "x"}},
		},
		{
			name: "empty data line dispatches an empty event",
			in:   "event: ping\ndata\n\n",
			want: []event{{Type: "ping", Data: ""}},
		},
		{
			name: "id with NUL ignored",
			in:   "id: 1\n\nid: a\x00b\ndata: x\n\n",
			want: []event{{ID: "1", Type: "message", Data: "x"}},
		},
		{
			name:      "bad retry ignored",
			in:        "retry: 10\nretry: -5\nretry: 1.5\nretry: x\ndata: x\n\n",
			want:      []event{{Type: "message", Data: "x"}},
			wantRetry: 10 * time.Millisecond,
		},
		{
			name: "unterminated event is dropped",
			in:   "data: a\n\ndata: b\n",
			want: []event{{Type: "message", Data: "a"}},
		},
		{
			name: "byte order mark",
			in:   "\uFEFFdata: a\n\n",
			want: []event{{Type: "message", Data: "a"}},
		},
		{
			name: "unknown fields and comments",
			in:   ": hello\nfoo: bar\ndata: a\n: mid\n\n",
			want: []event{{Type: "message", Data: "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time as well, so that a CR at the end of a read
			// is handled.
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, er := readAll(t, r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("events = %+v, want %+v", got, tt.want)
				}
				if er.retry != tt.wantRetry {
					t.Errorf("retry = %v, want %v", er.retry, tt.wantRetry)
				}
			}
		})
	}
}

func TestEventReaderLineTooLong(t *testing.T) {
	t.Parallel()
	er := newEventReader(strings.NewReader("data: "+strings.Repeat("x", maxLine+1)+"\n\n"), "")
	if _, err := er.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Next on an oversized line = %v, want an error", err)
	}
}

func encodeEvent(id, typ, data string) string {
	var b strings.Builder
	b.WriteString("id: " + id + "\n")
	if typ != "" {
		b.WriteString("event: " + typ + "\n")
	}
	for line := range strings.SplitSeq(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

func FuzzEventReader(f *testing.F) {
	f.Add("1", "notification", `{"id":"a"}`, []byte("id: 1\ndata: x\n\n"))
	f.Add("", "", "a\nb", []byte("data: a\r\ndata: b\r\r\n"))
	f.Add("42", "reset", "", []byte(": keep-alive\nretry: 5\n\n"))
	f.Fuzz(func(t *testing.T, id, typ, data string, raw []byte) {
		// Arbitrary input never panics and never yields a field with a
		// line break, which would let data forge a second event.
		er := newEventReader(strings.NewReader(string(raw)), "")
		for range len(raw) + 1 {
			ev, err := er.Next()
			if err != nil {
				break
			}
			if strings.ContainsAny(ev.ID, "\r\n\x00") || strings.ContainsAny(ev.Type, "\r\n") || strings.Contains(ev.Data, "\r") {
				t.Fatalf("event with a line break in a field: %+v", ev)
			}
		}

		// What a well-behaved server encodes comes back unchanged.
		if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(typ, "\r\n") || strings.Contains(data, "\r") {
			return
		}
		got, _ := readAll(t, strings.NewReader(encodeEvent(id, typ, data)))
		wantType := typ
		if wantType == "" {
			wantType = "message"
		}
		want := []event{{ID: id, Type: wantType, Data: data}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip of %q = %+v, want %+v", encodeEvent(id, typ, data), got, want)
		}
	})
}
