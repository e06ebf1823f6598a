package notify_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

func TestPayloadIsOneLineJSON(t *testing.T) {
	t.Parallel()
	n := &notify.Notification{
		ID:         "n1",
		Title:      "line1\nline2\r\u2028",
		Body:       "data: injected\n\nevent: evil",
		Data:       json.RawMessage(`{"k":"v\n"}`),
		CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for _, topic := range []notify.Topic{"", "orders/1"} {
		p := n.PayloadFor(topic)
		if bytes.ContainsAny(p, "\r\n") {
			t.Fatalf("payload has a raw newline: %s", p)
		}
		var got map[string]any
		if err := json.Unmarshal(p, &got); err != nil {
			t.Fatalf("payload is not JSON: %v", err)
		}
		if got["title"] != n.Title || got["type"] != notify.DefaultType || got["priority"] != "normal" {
			t.Errorf("payload = %v", got)
		}
		if want := string(topic); (got["topic"] == nil && want != "") || (want != "" && got["topic"] != want) {
			t.Errorf("topic = %v, want %q", got["topic"], want)
		}
	}
	if &n.Payload()[0] != &n.Payload()[0] {
		t.Error("Payload is encoded more than once")
	}
}
