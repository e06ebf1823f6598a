package store_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

func TestNewest(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), embedded.Options{RetentionCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if _, ok, err := store.Newest(ctx, st, "u"); ok || err != nil {
		t.Fatalf("Newest of a user without entries = %v, %v; want none", ok, err)
	}
	add := func(id string, expire time.Time) {
		t.Helper()
		n := &notify.Notification{ID: id, Title: id, CreateTime: time.Now(), ExpireTime: expire}
		if _, err := st.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "u"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		add(id, time.Time{})
	}
	e, ok, err := store.Newest(ctx, st, "u")
	if err != nil || !ok || e.Cursor != 3 || e.Notification.ID != "c" {
		t.Fatalf("Newest = %d %v, %v, %v; want entry 3 (c)", e.Cursor, e.Notification, ok, err)
	}
	// The newest expired: there is nothing to catch up to.
	add("d", time.Now().Add(-time.Minute))
	if e, ok, err := store.Newest(ctx, st, "u"); ok || err != nil {
		t.Fatalf("Newest with the newest expired = %d, %v, %v; want none", e.Cursor, ok, err)
	}
}
