package main

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

func TestReaderFrames(t *testing.T) {
	t.Parallel()
	in := "retry: 3000\n\n" +
		": keep-alive\n\n" +
		"id: 7\nevent: bench\ndata: {\"id\":\"a\",\"type\":\"bench\",\"data\":{\"s\":\"12\",\"t\":\"1700000000000000001\"},\"priority\":\"normal\"}\n\n" +
		"event: read\r\ndata: {\"unread\":1,\"unseen\":0}\r\n\r\n" +
		"id: 9\ndata: {\"title\":\"no bench fields\"}\n\n" +
		"id: 10\nevent: reset\ndata: {\"reason\":\"cursor_expired\"}\n\n"
	r := newSSEReader(bufio.NewReaderSize(strings.NewReader(in), 256))
	want := []struct {
		id, event string
		bench     bool
		seq       uint64
		sent      int64
	}{
		{"7", "bench", true, 12, 1700000000000000001},
		{"", "read", false, 0, 0},
		{"9", "", false, 0, 0},
		{"10", "reset", false, 0, 0},
	}
	for i, w := range want {
		f, err := r.next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if string(f.id) != w.id || string(f.event) != w.event || f.bench != w.bench || f.seq != w.seq || f.sent != w.sent {
			t.Errorf("event %d: got id %q event %q bench %v s %d t %d, want %+v", i, f.id, f.event, f.bench, f.seq, f.sent, w)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("at the end: got %v, want io.EOF", err)
	}
}

func TestReaderLongLine(t *testing.T) {
	t.Parallel()
	in := "data: " + strings.Repeat("x", 100) + "\n\n"
	r := newSSEReader(bufio.NewReaderSize(strings.NewReader(in), 16))
	if _, err := r.next(); err != errLongLine {
		t.Errorf("got %v, want errLongLine", err)
	}
}

func TestBenchFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		seq  uint64
		sent int64
	}{{0, 0}, {1, 1}, {123456, 1763900000123456789}} {
		data := appendBenchData(nil, c.seq, c.sent)
		seq, sent, ok := benchFields(data)
		if !ok || seq != c.seq || sent != c.sent {
			t.Errorf("benchFields(%s) = %d, %d, %v; want %d, %d, true", data, seq, sent, ok, c.seq, c.sent)
		}
	}
	for _, bad := range []string{`{}`, `{"s":"1"}`, `{"s":"x","t":"1"}`, `{"s":"1","t":""}`, `{"s":"1","t":"123456789012345678901234"}`} {
		if _, _, ok := benchFields([]byte(bad)); ok {
			t.Errorf("benchFields(%s) accepted", bad)
		}
	}
}

// repeatReader serves the same bytes forever.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

const benchFrame = "id: 1234567\nevent: bench\ndata: {\"id\":\"0193a2b4-7c1d-7e2f-8a9b-0c1d2e3f4a5b\",\"type\":\"bench\",\"title\":\"bench\",\"data\":{\"s\":\"42\",\"t\":\"1763900000123456789\"},\"priority\":\"normal\",\"created_at\":\"2026-11-23T19:43:10.827123Z\"}\n\n"

func TestReaderAllocatesNothing(t *testing.T) {
	r := newSSEReader(bufio.NewReaderSize(&repeatReader{b: []byte(benchFrame)}, 4096))
	allocs := testing.AllocsPerRun(1000, func() {
		if f, err := r.next(); err != nil || !f.bench {
			t.Fatalf("next: %v, bench %v", err, f.bench)
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per event, want 0", allocs)
	}
}

func BenchmarkReader(b *testing.B) {
	r := newSSEReader(bufio.NewReaderSize(&repeatReader{b: []byte(benchFrame)}, 4096))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if _, err := r.next(); err != nil {
			b.Fatal(err)
		}
	}
}
