package store_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

func TestRecent(t *testing.T) {
	t.Parallel()
	st, err := embedded.Open(t.TempDir(), embedded.Options{RetentionCount: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if es, err := store.Recent(ctx, st, "u", 3); len(es) != 0 || err != nil {
		t.Fatalf("Recent of a user without entries = %v, %v; want none", es, err)
	}
	add := func(id string, expire time.Time) {
		t.Helper()
		n := &notify.Notification{ID: id, Title: id, CreateTime: time.Now(), ExpireTime: expire}
		if _, err := st.Append(ctx, []store.Delivery{{Notification: n, Recipients: []store.Recipient{{User: "u"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(es []notify.Entry) (out []string) {
		for _, e := range es {
			out = append(out, e.Notification.ID)
		}
		return out
	}
	add("a", time.Time{})
	add("b", time.Time{})
	if es, err := store.Recent(ctx, st, "u", 3); err != nil || len(es) != 2 || ids(es)[1] != "b" {
		t.Fatalf("Recent(3) of 2 entries = %v, %v; want a, b", ids(es), err)
	}
	for _, id := range []string{"c", "d", "e", "f"} {
		add(id, time.Time{})
	}
	// 6 appended, 4 kept (3..6): the 3 newest, oldest first.
	if es, err := store.Recent(ctx, st, "u", 3); err != nil || len(es) != 3 || es[0].Cursor != 4 || es[2].Notification.ID != "f" {
		t.Fatalf("Recent(3) = %v, %v; want d, e, f", ids(es), err)
	}
	// More than retention keeps: the newest alone.
	if es, err := store.Recent(ctx, st, "u", 16); err != nil || len(es) != 1 || es[0].Notification.ID != "f" {
		t.Fatalf("Recent(16) past retention = %v, %v; want f", ids(es), err)
	}
	// Expired entries are left out.
	add("g", time.Now().Add(-time.Minute))
	if es, err := store.Recent(ctx, st, "u", 2); err != nil || len(es) != 1 || es[0].Notification.ID != "f" {
		t.Fatalf("Recent(2) with the newest expired = %v, %v; want f", ids(es), err)
	}
}
