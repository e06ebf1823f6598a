package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestFanOutEmbedded runs a notification in parts through the embedded
// store's subscriptions, preferences and appends.
func TestFanOutEmbedded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users := make([]notify.UserID, 2500)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("u%04d", i))
	}
	if _, err := st.Subscribe(ctx, []notify.Topic{"t"}, users); err != nil {
		t.Fatal(err)
	}
	// u0001 muted the topic; so did u0002, but it is also addressed
	// directly.
	for _, u := range []notify.UserID{"u0001", "u0002"} {
		if _, err := st.UpdatePreferences(ctx, u, store.PreferenceChange{MuteTopics: []notify.Topic{"t"}}); err != nil {
			t.Fatal(err)
		}
	}
	svc := ingest.New(router.New(st), st, ingest.Options{PartSize: 1000})
	n := toTopic("k")
	n.Audience.UserIds = []string{"u0002"}
	r, err := svc.NotifyOne(ctx, "svc", n)
	if err != nil || r.Recipients != 2499 || r.Duplicate {
		t.Fatalf("NotifyOne = %+v, %v; want 2499 recipients", r, err)
	}
	again, err := svc.NotifyOne(ctx, "svc", n)
	if err != nil || !again.Duplicate || again.ID != r.ID || again.Recipients != 2499 {
		t.Errorf("retry = %+v, %v; want a duplicate of %+v", again, err, r)
	}
	for u, want := range map[notify.UserID][]notify.Topic{"u0000": {"t"}, "u0001": nil, "u0002": {""}, "u2499": {"t"}} {
		es, err := st.Read(ctx, u, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []notify.Topic
		for _, e := range es {
			got = append(got, e.Topic)
			if e.Notification.ID != r.ID {
				t.Errorf("%s has an entry of %s, want %s", u, e.Notification.ID, r.ID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s's entries came through %q, want %q", u, got, want)
		}
	}
}
