package notify_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
)

func TestChannelKey(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"rooms/developers", "scores/match-42", "a"} {
		ch, err := notify.ParseChannel(name)
		if err != nil {
			t.Fatalf("ParseChannel(%q): %v", name, err)
		}
		key := ch.Key()
		if _, err := notify.ParseUserID(string(key)); err == nil {
			t.Errorf("the key of %q is a valid user ID: a user could receive the channel's events", name)
		}
		if got, ok := notify.ChannelOf(key); !ok || got != ch {
			t.Errorf("ChannelOf(%q) = %q, %v", key, got, ok)
		}
	}
	if _, ok := notify.ChannelOf("alice"); ok {
		t.Error(`ChannelOf("alice") reports a channel`)
	}
	for _, bad := range []string{"", "a b", "a,b", "ü", "a*b"} {
		if _, err := notify.ParseChannel(bad); err == nil {
			t.Errorf("ParseChannel(%q) accepted", bad)
		}
	}
}

func TestChannelPayload(t *testing.T) {
	t.Parallel()
	n := &notify.Notification{ID: "n1", Title: "hi", CreateTime: time.Unix(0, 0)}
	ch := notify.Channel("rooms/a")
	en := notify.Entry{User: ch.Key(), Cursor: 5, Notification: n}
	var got map[string]any
	if err := json.Unmarshal(en.Payload(), &got); err != nil {
		t.Fatal(err)
	}
	if got["channel"] != "rooms/a" || got["topic"] != nil || got["id"] != "n1" {
		t.Errorf("channel event payload = %v", got)
	}
	// Shared by every listener, and apart from the topic and direct forms.
	if &en.Payload()[0] != &n.ChannelPayload(ch)[0] {
		t.Error("the channel payload is encoded again per call")
	}
	if string(n.PayloadFor("rooms/a")) == string(n.ChannelPayload(ch)) {
		t.Error("a topic and a channel of one name share a payload")
	}
}
