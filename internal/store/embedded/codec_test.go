package embedded_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store/embedded"
)

func sameNotification(a, b *notify.Notification) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Title == b.Title && a.Body == b.Body &&
		bytes.Equal(a.Data, b.Data) && a.Category == b.Category && a.Priority == b.Priority &&
		a.CreateTime.Equal(b.CreateTime) && a.ExpireTime.Equal(b.ExpireTime) &&
		a.CreateTime.IsZero() == b.CreateTime.IsZero() && a.ExpireTime.IsZero() == b.ExpireTime.IsZero()
}

func TestNotificationRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    *notify.Notification
	}{
		{"minimal", &notify.Notification{ID: "a"}},
		{"full", &notify.Notification{
			ID: "n-1", Type: "order.shipped", Title: "T\u2713", Body: "b\nc",
			Data: json.RawMessage(`{"k":[1,2]}`), Category: "orders", Priority: notify.PriorityCritical,
			CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
			ExpireTime: time.Date(2026, 1, 3, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		}},
		{"negative priority and old time", &notify.Notification{ID: "z", Priority: -3, CreateTime: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := embedded.EncodeNotification(nil, tt.n)
			got, err := embedded.DecodeNotification(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameNotification(got, tt.n) {
				t.Errorf("got %+v, want %+v", got, tt.n)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	good := embedded.EncodeNotification(nil, &notify.Notification{ID: "a", Title: "t"})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{99}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"length past end", []byte{1, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := embedded.DecodeNotification(tt.b); err == nil {
				t.Errorf("DecodeNotification(%x) succeeded", tt.b)
			}
		})
	}
}

func FuzzDecodeNotification(f *testing.F) {
	f.Add(embedded.EncodeNotification(nil, &notify.Notification{ID: "a"}))
	f.Add(embedded.EncodeNotification(nil, &notify.Notification{
		ID: "n", Type: "t", Title: "x", Data: json.RawMessage(`{}`), Priority: 2,
		CreateTime: time.Unix(1700000000, 5), ExpireTime: time.Unix(1800000000, 0),
	}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := embedded.DecodeNotification(b)
		if err != nil {
			return
		}
		// Accepted input is canonical: it re-encodes to itself.
		again := embedded.EncodeNotification(nil, n)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, want %x", again, b)
		}
		n2, err := embedded.DecodeNotification(again)
		if err != nil || !sameNotification(n, n2) {
			t.Fatalf("round trip: %v, %+v vs %+v", err, n, n2)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(embedded.EncodeEntry(nil, 1700000000000000000, "id", "topic"))
	f.Add(embedded.EncodeEntry(nil, -1, "", ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := embedded.DecodeEntry(b)
		if err != nil {
			return
		}
		e2, err := embedded.DecodeEntry(b)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("decode is not deterministic: %v", err)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte{1, 5, 3})
	f.Add([]byte{1, 2, 'i', 'd', 3, 10})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Neither decoder may panic, whatever the bytes.
		_, _ = embedded.DecodeMeta(b)
		_, _ = embedded.DecodeIdem(b)
	})
}

// TestIdemFingerprint: records keep the fingerprint; those of releases
// before it (v1, v2) read without one, which matches any notification.
func TestIdemFingerprint(t *testing.T) {
	t.Parallel()
	for name, b := range map[string][]byte{
		"v1": embedded.EncodeIdemV1("n-1", 2, 7),
		"v2": embedded.EncodeIdemV2("n-1", 2, 7),
	} {
		id, n, incomplete, _, err := embedded.IdemState(b)
		fp, ferr := embedded.IdemFingerprint(b)
		if err != nil || ferr != nil || id != "n-1" || n != 2 || incomplete || fp != "" {
			t.Errorf("%s: %q %d %v fingerprint %q (%v, %v)", name, id, n, incomplete, fp, err, ferr)
		}
	}
}
