package redisstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	redisstore "github.com/heraldhq/herald/internal/store/redis"
)

var errCrash = errors.New("crash before the idempotency record")

func note(id, key string) *notify.Notification {
	return &notify.Notification{ID: id, Title: id, IdempotencyKey: key, CreateTime: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
}

func delivery(n *notify.Notification, part store.Part, users ...notify.UserID) store.Delivery {
	d := store.Delivery{Notification: n, Part: part}
	for _, u := range users {
		d.Recipients = append(d.Recipients, store.Recipient{User: u})
	}
	return d
}

func appendOne(t *testing.T, s store.Store, d store.Delivery) store.Result {
	t.Helper()
	res, err := s.Append(t.Context(), []store.Delivery{d})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res[0]
}

func checkOnce(t *testing.T, s store.Store, id string, users ...notify.UserID) {
	t.Helper()
	for _, u := range users {
		es, err := s.Read(t.Context(), u, 0, 10)
		if err != nil {
			t.Fatalf("Read(%s): %v", u, err)
		}
		if len(es) != 1 || es[0].Notification.ID != id || es[0].Cursor != 1 {
			t.Errorf("%s has %d entries (%v), want exactly %s at cursor 1", u, len(es), es, id)
		}
	}
}

// crashOnce makes the next group of s fail after its entries, before its
// idempotency records, and only that one.
func crashOnce(s *redisstore.Store) {
	var once sync.Once
	redisstore.SetAfterAppend(s, func() error {
		err := error(nil)
		once.Do(func() { err = errCrash })
		return err
	})
}

// TestCrashResumeWhole: a whole delivery claimed its key and reached some
// users, then the process died. The retry finds the record incomplete,
// resumes under the first ID from the start, and no user gets it twice.
func TestCrashResumeWhole(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		hooked []notify.Entry
	)
	s := redisstore.OpenTest(t, redisstore.Options{OnCommit: func(es []notify.Entry) {
		mu.Lock()
		defer mu.Unlock()
		hooked = append(hooked, es...)
	}})
	first := note("whole-1", "svc/whole")
	crashOnce(s)
	// The first attempt reached alice only (the rest of its audience was
	// still being routed, say) when it crashed.
	if _, err := s.Append(t.Context(), []store.Delivery{delivery(first, store.Part{}, "alice")}); !errors.Is(err, notify.ErrUnavailable) || !errors.Is(err, errCrash) {
		t.Fatalf("crashed Append: error = %v, want ErrUnavailable and the crash", err)
	}
	retry := appendOne(t, s, delivery(note("whole-2", "svc/whole"), store.Part{}, "alice", "bob", "carol"))
	if want := (store.Result{ID: first.ID, Incomplete: true}); retry != want {
		t.Fatalf("retry = %+v, want %+v", retry, want)
	}
	checkOnce(t, s, first.ID, "alice")
	// What ingest does with it: the whole audience again, as parts of the
	// first ID.
	resume := note(first.ID, "svc/whole")
	r := appendOne(t, s, delivery(resume, store.Part{Multi: true, Seq: 1, Final: true}, "alice", "bob", "carol"))
	if r.ID != first.ID || r.Recipients != 3 || r.Duplicate || r.Incomplete {
		t.Errorf("resumed part = %+v, want 3 recipients of %s", r, first.ID)
	}
	checkOnce(t, s, first.ID, "alice", "bob", "carol")
	again := appendOne(t, s, delivery(note("whole-3", "svc/whole"), store.Part{}, "alice"))
	if want := (store.Result{ID: first.ID, Recipients: 3, Duplicate: true}); again != want {
		t.Errorf("retry after the resume = %+v, want %+v", again, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 3 {
		t.Errorf("hook saw %d entries, want 3 (one per user)", len(hooked))
	}
}

// TestCrashResumeParts: part 1 of a fan-out reached its users but not the
// record. The retry resumes after part 0; re-sending part 1's users adds
// nothing, and the counts still add up.
func TestCrashResumeParts(t *testing.T) {
	t.Parallel()
	s := redisstore.OpenTest(t, redisstore.Options{})
	first := note("parts-1", "svc/parts")
	appendOne(t, s, delivery(first, store.Part{Multi: true, Seq: 0}, "p-a", "p-b"))
	crashOnce(s)
	if _, err := s.Append(t.Context(), []store.Delivery{delivery(first, store.Part{Multi: true, Seq: 1}, "p-c", "p-d")}); !errors.Is(err, errCrash) {
		t.Fatalf("crashed part: error = %v", err)
	}
	retry := appendOne(t, s, delivery(note("parts-2", "svc/parts"), store.Part{Multi: true}, "p-a", "p-b"))
	if want := (store.Result{ID: first.ID, Recipients: 2, Incomplete: true, ResumeAfter: "p-b"}); retry != want {
		t.Fatalf("retry = %+v, want %+v", retry, want)
	}
	total := retry.Recipients
	resume := note(first.ID, "svc/parts")
	total += appendOne(t, s, delivery(resume, store.Part{Multi: true, Seq: 1}, "p-c", "p-d")).Recipients
	total += appendOne(t, s, delivery(resume, store.Part{Multi: true, Seq: 2, Final: true}, "p-e")).Recipients
	if total != 5 {
		t.Errorf("recipients summed over the parts = %d, want 5", total)
	}
	checkOnce(t, s, first.ID, "p-a", "p-b", "p-c", "p-d", "p-e")
	again := appendOne(t, s, delivery(note("parts-3", "svc/parts"), store.Part{}, "p-a"))
	if want := (store.Result{ID: first.ID, Recipients: 5, Duplicate: true}); again != want {
		t.Errorf("retry after completion = %+v, want %+v", again, want)
	}
}
