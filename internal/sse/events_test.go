package sse_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/sse"
)

// TestEventsMessage: with events=message every notification, of any type,
// inbox entry or channel event, comes as the default event with its type
// in the data; control events stay named.
func TestEventsMessage(t *testing.T) {
	t.Parallel()
	chs := newMemChannels()
	e := newEnv(t, func(c *sse.Config) {
		c.Channels = chs
		c.ChannelPolicy = auth.ChannelPolicy{Public: []string{"rooms/*"}}
	})
	_, fr := e.connect(tokenAlice, "?events=message&channels=rooms/a", nil)

	paid := &notify.Notification{ID: "n1", Type: "invoice.paid", Title: "Paid", CreateTime: createTime}
	e.hub.Publish([]notify.Entry{{User: "alice", Cursor: 1, Notification: paid}})
	e.hub.Publish([]notify.Entry{{User: "alice", Counts: &notify.Counts{Unread: 1, Unseen: 1}}})
	chs.publish(t, e.hub, "rooms/a", &notify.Notification{ID: "n2", Type: "chat.message", Title: "Hi", CreateTime: createTime})

	var types []string
	for len(types) < 2 {
		f, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if f.event() == "read" {
			if f.id() != "" {
				t.Errorf("read event with an id: %q", f.raw)
			}
			continue
		}
		if _, named := f.value("event"); named {
			t.Fatalf("frame %q names its event", f.raw)
		}
		if f.id() == "" {
			t.Errorf("frame %q has no id", f.raw)
		}
		var d struct{ Type, Channel string }
		if err := json.Unmarshal([]byte(f.data()), &d); err != nil {
			t.Fatal(err)
		}
		types = append(types, d.Type+"@"+d.Channel)
	}
	if want := []string{"invoice.paid@", "chat.message@rooms/a"}; strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("types %q, want %q", types, want)
	}
}

func TestEventsParam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, fr := e.connect(tokenAlice, "?events=typed", nil)
	sent := e.store.append("alice", 1)
	f, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	wantEntry(t, f, sent[0])
	for _, v := range []string{"Message", "all", "message,typed"} {
		wantRefused(t, e.do(e.request("?events="+v, http.Header{"Authorization": {"Bearer " + tokenAlice}})), http.StatusBadRequest, "invalid_argument")
	}
}
