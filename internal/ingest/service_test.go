package ingest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/validate"
)

// memAppender records appends and dedupes on the idempotency key, like a
// store.
type memAppender struct {
	mu     sync.Mutex
	calls  [][]store.Delivery
	byKey  map[string]store.Result
	failed error
}

func (a *memAppender) Append(_ context.Context, ds []store.Delivery) ([]store.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed != nil {
		return nil, a.failed
	}
	a.calls = append(a.calls, ds)
	if a.byKey == nil {
		a.byKey = map[string]store.Result{}
	}
	out := make([]store.Result, len(ds))
	for i, d := range ds {
		k := d.Notification.IdempotencyKey
		if r, ok := a.byKey[k]; ok && k != "" {
			r.Duplicate = true
			out[i] = r
			continue
		}
		out[i] = store.Result{ID: d.Notification.ID, Recipients: len(d.Recipients)}
		if k != "" {
			a.byKey[k] = out[i]
		}
	}
	return out, nil
}

// Publish stores nothing: channels are tested against the embedded store.
func (a *memAppender) Publish(_ context.Context, _ *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	return make([]notify.Cursor, len(cs)), nil
}

// topicSubs is a topic → sorted subscribers table.
type topicSubs map[notify.Topic][]notify.UserID

func (s topicSubs) TopicSubscribers(_ context.Context, t notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	all := s[t]
	i, found := slices.BinarySearch(all, after)
	if found {
		i++
	}
	return slices.Clone(all[i:min(i+limit, len(all))]), nil
}

func newService(t *testing.T, app ingest.Store, reg prometheus.Registerer) *ingest.Service {
	t.Helper()
	r := router.New(topicSubs{"news": {"bob", "carol"}})
	return ingest.New(r, app, ingest.Options{Now: func() time.Time { return testNow }, Registerer: reg})
}

func TestNotifyOne(t *testing.T) {
	t.Parallel()
	app := &memAppender{}
	reg := prometheus.NewRegistry()
	svc := newService(t, app, reg)
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice", "bob"}, Topics: []string{"news"}}, Title: "Hi", IdempotencyKey: "k1"}

	r, err := svc.NotifyOne(context.Background(), "billing", n)
	if err != nil {
		t.Fatalf("NotifyOne: %v", err)
	}
	if r.Recipients != 3 || r.Duplicate {
		t.Errorf("result = %+v, want 3 recipients", r)
	}
	id, err := uuid.Parse(r.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("ID %q is not a UUIDv7: %v", r.ID, err)
	}
	d := app.calls[0][0]
	if d.Notification.IdempotencyKey != "billing\x00k1" {
		t.Errorf("idempotency key = %q, want it scoped to the sender", d.Notification.IdempotencyKey)
	}
	if !d.Notification.CreateTime.Equal(testNow) {
		t.Errorf("create time = %v, want %v", d.Notification.CreateTime, testNow)
	}
	if want := []store.Recipient{{User: "alice"}, {User: "bob"}, {User: "carol", Topic: "news"}}; !equalRecipients(d.Recipients, want) {
		t.Errorf("recipients = %v, want %v", d.Recipients, want)
	}

	// Same key, same sender: a duplicate. Same key, other sender: new.
	again, err := svc.NotifyOne(context.Background(), "billing", n)
	if err != nil || !again.Duplicate || again.ID != r.ID {
		t.Errorf("retry = %+v, %v; want duplicate of %s", again, err, r.ID)
	}
	other, err := svc.NotifyOne(context.Background(), "shipping", n)
	if err != nil || other.Duplicate || other.ID == r.ID {
		t.Errorf("other sender = %+v, %v; want a new notification", other, err)
	}

	if _, err := svc.NotifyOne(context.Background(), "billing", &heraldv1.Notification{Title: "no audience"}); err == nil {
		t.Error("NotifyOne accepted a notification without audience")
	}
	for outcome, want := range map[string]float64{"accepted": 2, "duplicate": 1, "invalid": 1, "failed": 0} {
		if got := (metric(t, reg, "herald_ingest_notifications_total", outcome)); got != want {
			t.Errorf("notifications{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
}

func equalRecipients(a, b []store.Recipient) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// metric finds one labelled counter in reg.
func metric(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{outcome=%s} not found", name, outcome)
	return 0
}

func TestNotifyBatch(t *testing.T) {
	t.Parallel()
	ok := func(title string) *heraldv1.Notification {
		return &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice"}}, Title: title}
	}
	t.Run("all stored in one append", func(t *testing.T) {
		t.Parallel()
		app := &memAppender{}
		rs, err := newService(t, app, nil).Notify(context.Background(), "svc", []*heraldv1.Notification{ok("a"), ok("b"), ok("c")})
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
		if len(rs) != 3 || len(app.calls) != 1 || len(app.calls[0]) != 3 {
			t.Fatalf("results %v, appends %d", rs, len(app.calls))
		}
		ids := map[string]bool{}
		for i, r := range rs {
			ids[r.ID] = true
			if app.calls[0][i].Notification.Title != string(rune('a'+i)) {
				t.Errorf("delivery %d out of order", i)
			}
		}
		if len(ids) != 3 {
			t.Errorf("IDs not unique: %v", rs)
		}
	})
	tests := []struct {
		name string
		ns   []*heraldv1.Notification
		want []string
	}{
		{"empty", nil, []string{"notifications"}},
		{"too many", make([]*heraldv1.Notification, 101), []string{"notifications"}},
		{"one bad refuses all", []*heraldv1.Notification{ok("a"), ok(""), nil}, []string{"notifications[1].title", "notifications[2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := &memAppender{}
			_, err := newService(t, app, nil).Notify(context.Background(), "svc", tt.ns)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a validate.Error", err)
			}
			var fields []string
			for _, v := range ve.Violations {
				fields = append(fields, v.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.want, ",") {
				t.Errorf("fields = %q, want %q", fields, tt.want)
			}
			if len(app.calls) != 0 {
				t.Error("an invalid batch reached the store")
			}
		})
	}
}

type failingRouter struct{ err error }

func (f failingRouter) Route(context.Context, *notify.Notification, notify.UserID, int, func([]store.Recipient) error) error {
	return f.err
}

func TestNotifyErrors(t *testing.T) {
	t.Parallel()
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice"}}, Title: "x"}
	svc := ingest.New(router.New(nil), &memAppender{failed: notify.ErrUnavailable}, ingest.Options{})
	if _, err := svc.NotifyOne(context.Background(), "s", n); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("append failure: err = %v, want ErrUnavailable", err)
	}
	errRoute := errors.New("subscriptions down")
	svc = ingest.New(failingRouter{errRoute}, &memAppender{}, ingest.Options{})
	if _, err := svc.Notify(context.Background(), "s", []*heraldv1.Notification{n}); !errors.Is(err, errRoute) {
		t.Errorf("route failure: err = %v, want %v", err, errRoute)
	}
}

func TestSharedRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	a := newService(t, &memAppender{}, reg)
	b := newService(t, &memAppender{}, reg)
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: []string{"alice"}}, Title: "x"}
	for _, s := range []*ingest.Service{a, b} {
		if _, err := s.NotifyOne(context.Background(), "s", n); err != nil {
			t.Fatal(err)
		}
	}
	if got := (metric(t, reg, "herald_ingest_notifications_total", "accepted")); got != 2 {
		t.Errorf("accepted = %v, want 2 across both services", got)
	}
}
