package storetest

import (
	"testing"

	"github.com/heraldhq/herald/internal/notify"
)

func withPrint(n *notify.Notification, key, fingerprint string) *notify.Notification {
	n.IdempotencyKey, n.Fingerprint = key, fingerprint
	return n
}

// testIdempotencyConflict: a key sent again with the same fingerprint is
// a duplicate; with another, a conflict that stores nothing; a record
// without a fingerprint (written before they were kept) matches any.
func testIdempotencyConflict(t *testing.T, open Open) {
	rec := &recorder{}
	s := open(t, rec.hook)
	first := mustAppend(t, s, deliver(withPrint(newNotification("first"), "svc/c1", "print-A"), "hank"))[0]
	if first.Duplicate || first.Conflict || first.Recipients != 1 {
		t.Fatalf("first append = %+v", first)
	}
	retry := mustAppend(t, s, deliver(withPrint(newNotification("retry"), "svc/c1", "print-A"), "hank"))[0]
	if !retry.Duplicate || retry.Conflict || retry.ID != first.ID {
		t.Errorf("retry with the same fingerprint = %+v, want a duplicate of %s", retry, first.ID)
	}
	other := mustAppend(t, s, deliver(withPrint(newNotification("other"), "svc/c1", "print-B"), "hank", "iris"))[0]
	if !other.Conflict || other.Duplicate || other.ID != first.ID {
		t.Errorf("another notification under the key = %+v, want a conflict with %s", other, first.ID)
	}
	if last := mustLast(t, s, "hank"); last != 1 {
		t.Errorf("hank Last = %d after a conflict, want 1", last)
	}
	if last := mustLast(t, s, "iris"); last != 0 {
		t.Errorf("iris Last = %d after a conflict, want 0", last)
	}

	// In one append: the second delivery conflicts with the first.
	res := mustAppend(t, s,
		deliver(withPrint(newNotification("a"), "svc/c2", "print-A"), "hank"),
		deliver(withPrint(newNotification("b"), "svc/c2", "print-B"), "hank"),
		deliver(withPrint(newNotification("c"), "svc/c2", "print-A"), "hank"),
	)
	if res[0].Conflict || res[0].Duplicate || !res[1].Conflict || res[1].ID != res[0].ID || !res[2].Duplicate || res[2].ID != res[0].ID {
		t.Errorf("results = %+v, want stored, conflict, duplicate", res)
	}
	if n := len(rec.byUser()["hank"]); n != 2 {
		t.Errorf("hook saw %d entries for hank, want 2", n)
	}

	// A record without a fingerprint matches any notification.
	old := mustAppend(t, s, deliver(withPrint(newNotification("old"), "svc/c3", ""), "hank"))[0]
	again := mustAppend(t, s, deliver(withPrint(newNotification("new"), "svc/c3", "print-B"), "hank"))[0]
	if !again.Duplicate || again.Conflict || again.ID != old.ID {
		t.Errorf("after a record without fingerprint = %+v, want a duplicate of %s", again, old.ID)
	}
}
