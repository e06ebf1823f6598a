package notify_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

func TestContentFingerprint(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	base := func() *notify.Notification {
		return &notify.Notification{ID: "n-1", Type: "order.shipped", Title: "Shipped", Body: "b", Data: []byte(`{"a":1}`),
			Category: "orders", Priority: notify.PriorityHigh, CreateTime: at, ExpireTime: at.Add(time.Hour),
			IdempotencyKey: "svc\x00k", Users: []notify.UserID{"alice", "bob"}, Topics: []notify.Topic{"t1", "t2"},
			Channels: []notify.Channel{"rooms/a", "rooms/b"}}
	}
	fp := base().ContentFingerprint()
	if len(fp) != notify.FingerprintSize {
		t.Fatalf("fingerprint of %d bytes", len(fp))
	}
	same := map[string]func(*notify.Notification){
		"server fields": func(n *notify.Notification) {
			n.ID, n.CreateTime, n.IdempotencyKey = "n-2", at.Add(time.Minute), "svc\x00k2"
		},
		"users order":  func(n *notify.Notification) { n.Users = []notify.UserID{"bob", "alice", "bob"} },
		"topics order": func(n *notify.Notification) { n.Topics = []notify.Topic{"t2", "t1"} },
		"channels order": func(n *notify.Notification) {
			n.Channels = []notify.Channel{"rooms/b", "rooms/a", "rooms/b"}
		},
	}
	for name, mod := range same {
		n := base()
		mod(n)
		users := append([]notify.UserID(nil), n.Users...)
		if got := n.ContentFingerprint(); got != fp {
			t.Errorf("%s: fingerprint changed", name)
		}
		if len(users) != len(n.Users) || (len(users) > 0 && users[0] != n.Users[0]) {
			t.Errorf("%s: the audience was changed: %v", name, n.Users)
		}
	}
	other := map[string]func(*notify.Notification){
		"type":        func(n *notify.Notification) { n.Type = "order.paid" },
		"title":       func(n *notify.Notification) { n.Title = "Paid" },
		"body":        func(n *notify.Notification) { n.Body = "" },
		"data":        func(n *notify.Notification) { n.Data = []byte(`{"a":2}`) },
		"category":    func(n *notify.Notification) { n.Category = "" },
		"priority":    func(n *notify.Notification) { n.Priority = notify.PriorityLow },
		"expiry":      func(n *notify.Notification) { n.ExpireTime = time.Time{} },
		"users":       func(n *notify.Notification) { n.Users = n.Users[:1] },
		"topics":      func(n *notify.Notification) { n.Topics = nil },
		"channels":    func(n *notify.Notification) { n.Channels = n.Channels[:1] },
		"no channels": func(n *notify.Notification) { n.Channels = nil },
		"topic as channel": func(n *notify.Notification) {
			n.Topics, n.Channels = []notify.Topic{"t1", "t2", "rooms/a", "rooms/b"}, nil
		},
		"moved": func(n *notify.Notification) { n.Title, n.Body = "Shippedb", "" },
	}
	for name, mod := range other {
		n := base()
		mod(n)
		if n.ContentFingerprint() == fp {
			t.Errorf("other %s, same fingerprint", name)
		}
	}
	if !notify.SameContent("", fp) || !notify.SameContent(fp, "") || !notify.SameContent(fp, fp) || notify.SameContent(fp, "x") {
		t.Error("SameContent")
	}
}

// TestContentFingerprintStable pins fingerprints of notifications without
// channels as they were computed before channels existed: idempotency
// records in stores keep them, and a retry must still match its record.
func TestContentFingerprintStable(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		n    *notify.Notification
		want string
	}{
		{"full", &notify.Notification{Type: "order.shipped", Title: "Shipped", Body: "b", Data: []byte(`{"a":1}`),
			Category: "orders", Priority: notify.PriorityHigh, ExpireTime: at.Add(time.Hour),
			Users: []notify.UserID{"alice", "bob"}, Topics: []notify.Topic{"t1", "t2"}}, "3b1bc83cec4873763428bcd7f8aace3f"},
		{"one user", &notify.Notification{Title: "Hi", Users: []notify.UserID{"alice"}}, "60d6844dc16ff3d477913c93dd1c928b"},
		{"empty channel list", &notify.Notification{Title: "Hi", Users: []notify.UserID{"alice"}, Channels: []notify.Channel{}},
			"60d6844dc16ff3d477913c93dd1c928b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hex.EncodeToString([]byte(tt.n.ContentFingerprint())); got != tt.want {
				t.Errorf("fingerprint = %s, want %s", got, tt.want)
			}
		})
	}
}
