package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	if first, again := n.Payload(), n.Payload(); &first[0] != &again[0] {
		t.Error("Payload is encoded more than once")
	}
}

// TestPayloadForTopicEncodedOnce: a fan-out reads the payload of a topic from
// every recipient's stream at once; each topic is encoded once and every
// reader gets that one encoding.
func TestPayloadForTopicEncodedOnce(t *testing.T) {
	n := &notify.Notification{ID: "n1", Title: "t", CreateTime: time.Unix(0, 0)}
	topics := []notify.Topic{"news", "team/ops", "order:1"}
	got := make([][][]byte, 8)
	var wg sync.WaitGroup
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for _, tp := range topics {
					got[g] = append(got[g], n.PayloadFor(tp))
				}
			}
		}()
	}
	wg.Wait()
	for i, tp := range topics {
		first := got[0][i]
		if !strings.Contains(string(first), `"topic":"`+string(tp)+`"`) {
			t.Fatalf("PayloadFor(%q) = %s, want the topic in it", tp, first)
		}
		for g := range got {
			for j := i; j < len(got[g]); j += len(topics) {
				if &got[g][j][0] != &first[0] {
					t.Fatalf("PayloadFor(%q) encoded more than once", tp)
				}
			}
		}
	}
	if direct := n.PayloadFor(""); strings.Contains(string(direct), `"topic"`) {
		t.Errorf("PayloadFor(\"\") = %s, want no topic", direct)
	}
}

func TestUnavailableError(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	err := fmt.Errorf("store: append: %w", &notify.UnavailableError{Dependency: "redis", Err: cause})
	if !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, cause) {
		t.Errorf("%v: want it to be ErrUnavailable and its cause", err)
	}
	if got, want := err.Error(), "store: append: redis temporarily unavailable: connection refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
