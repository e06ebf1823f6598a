package auth_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/auth"
)

func scopedKey(t *testing.T, line string) *auth.Key {
	t.Helper()
	keys, err := auth.ParseKeyFile([]byte("name=s hash=" + auth.HashAPIKey("k") + " " + line))
	if err != nil {
		t.Fatal(err)
	}
	return &keys[0]
}

func TestKeyScope(t *testing.T) {
	t.Parallel()
	k := scopedKey(t, "methods=Notify,Subscribe topics=order:*,billing/*,eu/[ab]?")
	methods := map[string]bool{"Notify": true, "Subscribe": true, "NotifyBatch": false, "Unsubscribe": false, "": false}
	for m, want := range methods {
		if got := k.AllowsMethod(m); got != want {
			t.Errorf("AllowsMethod(%q) = %v, want %v", m, got, want)
		}
	}
	// path.Match's * stops at '/': billing/eu/de is outside billing/*.
	topics := map[string]bool{
		"order:1": true, "order:": true, "billing/eu": true, "eu/a1": true,
		"billing/eu/de": false, "billing": false, "orders:1": false, "eu/c1": false, "": false, "xorder:1": false,
	}
	for topic, want := range topics {
		if got := k.AllowsTopic(topic); got != want {
			t.Errorf("AllowsTopic(%q) = %v, want %v", topic, got, want)
		}
	}
	if got, denied := k.DeniedTopic([]string{"order:1", "billing/x", "ads", "news"}); !denied || got != "ads" {
		t.Errorf("DeniedTopic = %q, %v; want ads, true", got, denied)
	}
	if _, denied := k.DeniedTopic(nil); denied {
		t.Error("DeniedTopic(nil) denied")
	}
	if !k.TopicScoped() {
		t.Error("TopicScoped = false")
	}

	full := scopedKey(t, "methods=* topics=*")
	var none *auth.Key // development mode: no key, no limits
	for _, k := range []*auth.Key{full, none} {
		if !k.AllowsMethod("ListTopicSubscribers") || !k.AllowsTopic("billing/eu/de") || k.TopicScoped() {
			t.Errorf("key %+v is limited", k)
		}
	}
	if got := auth.MethodName("/herald.v1.NotifyService/NotifyBatch"); got != "NotifyBatch" {
		t.Errorf("MethodName = %q", got)
	}
}

func TestKeyRing(t *testing.T) {
	t.Parallel()
	old, err := auth.ParseAPIKeys([]string{"a=" + auth.HashAPIKey("old")})
	if err != nil {
		t.Fatal(err)
	}
	r := auth.NewKeyRing(old)
	if _, ok := r.Find("old"); !ok {
		t.Fatal("old key not found")
	}
	next, _ := auth.ParseAPIKeys([]string{"a=" + auth.HashAPIKey("new")})
	r.Store(next)
	if _, ok := r.Find("old"); ok {
		t.Error("old key still found after Store")
	}
	if k, ok := r.Find("new"); !ok || k.Name != "a" {
		t.Errorf("Find(new) = %v, %v", k, ok)
	}
	if _, ok := auth.NewKeyRing(nil).Find("new"); ok {
		t.Error("empty ring found a key")
	}
}
