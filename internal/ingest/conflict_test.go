package ingest_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestNotifyKeyReused: the same notification sent again under its key is a
// duplicate with the first ID; another notification under the key is
// refused as a conflict naming the key and the first ID, and stores
// nothing; in a batch, the others are stored.
func TestNotifyKeyReused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	svc := ingest.New(router.New(st), st, ingest.Options{Registerer: reg})
	mk := func(title, key string, users ...string) *heraldv1.Notification {
		data, _ := structpb.NewStruct(map[string]any{"b": 1, "a": "x"})
		return &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: users}, Title: title, Data: data, IdempotencyKey: key}
	}
	first, err := svc.NotifyOne(ctx, "svc", mk("Paid", "pay-1", "alice", "bob"))
	if err != nil || first.Duplicate {
		t.Fatalf("first = %+v, %v", first, err)
	}
	// The same content, audience in another order: a retry.
	retry, err := svc.NotifyOne(ctx, "svc", mk("Paid", "pay-1", "bob", "alice", "bob"))
	if err != nil || !retry.Duplicate || retry.ID != first.ID {
		t.Fatalf("retry = %+v, %v; want a duplicate of %s", retry, err, first.ID)
	}
	for name, n := range map[string]*heraldv1.Notification{
		"title":    mk("Refunded", "pay-1", "alice", "bob"),
		"audience": mk("Paid", "pay-1", "alice"),
	} {
		r, err := svc.NotifyOne(ctx, "svc", n)
		ce, ok := errors.AsType[*ingest.ConflictError](err)
		if !ok || !errors.Is(err, notify.ErrIdempotencyKeyReused) || len(ce.Conflicts) != 1 ||
			ce.Conflicts[0].Field != "notification.idempotency_key" || ce.Conflicts[0].ID != first.ID {
			t.Fatalf("other %s under the key = %+v, %v; want a conflict with %s", name, r, err, first.ID)
		}
	}
	// Another sender's key of the same name is its own.
	if r, err := svc.NotifyOne(ctx, "other", mk("Refunded", "pay-1", "alice")); err != nil || r.Duplicate {
		t.Fatalf("another sender = %+v, %v", r, err)
	}

	rs, err := svc.Notify(ctx, "svc", []*heraldv1.Notification{mk("New", "pay-2", "alice"), mk("Refunded", "pay-1", "alice")})
	ce, ok := errors.AsType[*ingest.ConflictError](err)
	if !ok || len(ce.Conflicts) != 1 || ce.Conflicts[0].Field != "notifications[1].idempotency_key" {
		t.Fatalf("batch = %+v, %v; want a conflict of notifications[1]", rs, err)
	}
	if r, err := svc.NotifyOne(ctx, "svc", mk("New", "pay-2", "alice")); err != nil || !r.Duplicate {
		t.Errorf("the batch's other notification was not stored: %+v, %v", r, err)
	}
	// alice: Paid, Refunded (other sender), New.
	if last, err := st.Last(ctx, "alice"); err != nil || last != 3 {
		t.Errorf("alice Last = %d (%v), want 3", last, err)
	}
	if got := metric(t, reg, "herald_ingest_notifications_total", "conflict"); got != 3 {
		t.Errorf("conflicts counted %v, want 3", got)
	}
}
