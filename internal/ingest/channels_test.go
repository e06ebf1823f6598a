package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// flakyStore is the embedded store whose Publish fails while failing is
// set, as a store that went down between the inbox append and the channels
// would.
type flakyStore struct {
	*embedded.Store
	failing atomic.Bool
}

func (s *flakyStore) Publish(ctx context.Context, n *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	if s.failing.Load() {
		return nil, fmt.Errorf("store: publish: %w", notify.ErrUnavailable)
	}
	return s.Store.Publish(ctx, n, cs)
}

func openChannelStore(t *testing.T) *flakyStore {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Subscribe(t.Context(), []notify.Topic{"news"}, []notify.UserID{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	return &flakyStore{Store: st}
}

func toAudience(key string, users, topics, channels []string) *heraldv1.Notification {
	return &heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: users, Topics: topics, Channels: channels},
		Title: "Goal", IdempotencyKey: key}
}

// channelIDs returns the notification IDs of ch's events, oldest first.
func channelIDs(t *testing.T, st *flakyStore, ch notify.Channel) []string {
	t.Helper()
	es, err := st.ChannelRead(t.Context(), ch, 0, 100)
	if err != nil {
		t.Fatalf("ChannelRead(%s): %v", ch, err)
	}
	var ids []string
	for _, e := range es {
		if e.User != ch.Key() {
			t.Errorf("%s: event under %q", ch, e.User)
		}
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

// inboxIDs returns the notification IDs of user's inbox, oldest first.
func inboxIDs(t *testing.T, st *flakyStore, user notify.UserID) []string {
	t.Helper()
	es, err := st.Read(t.Context(), user, 0, 100)
	if err != nil {
		t.Fatalf("Read(%s): %v", user, err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.Notification.ID)
	}
	return ids
}

// counter returns the value of an unlabelled counter of reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestNotifyChannels: a notification goes into each of its channels'
// histories once and into no inbox for them, alone or beside users and
// topics; a retry with its key stores nothing twice, and the key with
// other channels is a conflict that publishes nothing.
func TestNotifyChannels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openChannelStore(t)
	reg := prometheus.NewRegistry()
	svc := ingest.New(router.New(st), st, ingest.Options{Registerer: reg})

	room := toAudience("room-1", nil, nil, []string{"rooms/dev"})
	only, err := svc.NotifyOne(ctx, "svc", room)
	if err != nil || only.Duplicate || only.Recipients != 0 || only.ID == "" {
		t.Fatalf("channel only = %+v, %v; want a new notification without recipients", only, err)
	}
	if got := channelIDs(t, st, "rooms/dev"); !slices.Equal(got, []string{only.ID}) {
		t.Errorf("rooms/dev holds %v, want [%s]", got, only.ID)
	}

	all := toAudience("all-1", []string{"alice"}, []string{"news"}, []string{"rooms/dev", "scores/m-42", "rooms/dev"})
	both, err := svc.NotifyOne(ctx, "svc", all)
	if err != nil || both.Duplicate || both.Recipients != 3 {
		t.Fatalf("users, topics and channels = %+v, %v; want 3 recipients", both, err)
	}
	check := func(when string) {
		t.Helper()
		for ch, want := range map[notify.Channel][]string{"rooms/dev": {only.ID, both.ID}, "scores/m-42": {both.ID}} {
			if got := channelIDs(t, st, ch); !slices.Equal(got, want) {
				t.Errorf("%s: %s holds %v, want %v", when, ch, got, want)
			}
		}
		for _, u := range []notify.UserID{"alice", "bob", "carol"} {
			if got := inboxIDs(t, st, u); !slices.Equal(got, []string{both.ID}) {
				t.Errorf("%s: %s's inbox holds %v, want [%s]", when, u, got, both.ID)
			}
		}
		// A channel's events are no inbox's, not even under its key.
		for _, ch := range []notify.Channel{"rooms/dev", "scores/m-42"} {
			if got := inboxIDs(t, st, ch.Key()); got != nil {
				t.Errorf("%s: an inbox under %s's key holds %v", when, ch, got)
			}
		}
	}
	check("first")
	wantOffsets := map[notify.Channel]notify.Cursor{}
	for _, ch := range []notify.Channel{"rooms/dev", "scores/m-42"} {
		if wantOffsets[ch], err = st.ChannelLast(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}

	// Retries, alone and in a batch: the first IDs, nothing stored again.
	for _, n := range []*heraldv1.Notification{room, all} {
		r, err := svc.NotifyOne(ctx, "svc", n)
		if err != nil || !r.Duplicate || (r.ID != only.ID && r.ID != both.ID) {
			t.Errorf("retry = %+v, %v; want a duplicate", r, err)
		}
	}
	rs, err := svc.Notify(ctx, "svc", []*heraldv1.Notification{all, room})
	if err != nil || !rs[0].Duplicate || rs[0].ID != both.ID || !rs[1].Duplicate || rs[1].ID != only.ID {
		t.Errorf("batch retry = %+v, %v; want duplicates of %s and %s", rs, err, both.ID, only.ID)
	}
	check("after the retries")
	for ch, want := range wantOffsets {
		if got, err := st.ChannelLast(ctx, ch); err != nil || got != want {
			t.Errorf("%s's last offset = %d (%v) after the retries, want %d", ch, got, err, want)
		}
	}

	// The key with other channels, or without them: a conflict.
	for name, n := range map[string]*heraldv1.Notification{
		"other channel": toAudience("room-1", nil, nil, []string{"rooms/ops"}),
		"more channels": toAudience("all-1", []string{"alice"}, []string{"news"}, []string{"rooms/dev", "scores/m-42", "rooms/ops"}),
		"no channels":   toAudience("all-1", []string{"alice"}, []string{"news"}, nil),
	} {
		r, err := svc.NotifyOne(ctx, "svc", n)
		if _, ok := errors.AsType[*ingest.ConflictError](err); !ok {
			t.Errorf("%s under a used key = %+v, %v; want a conflict", name, r, err)
		}
	}
	if got := channelIDs(t, st, "rooms/ops"); got != nil {
		t.Errorf("a conflict published %v to rooms/ops", got)
	}
	check("after the conflicts")

	// Two notifications of a batch to one channel: two events, in order.
	rs, err = svc.Notify(ctx, "svc", []*heraldv1.Notification{
		toAudience("", nil, nil, []string{"rooms/batch"}), toAudience("", []string{"alice"}, nil, []string{"rooms/batch"}),
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if got := channelIDs(t, st, "rooms/batch"); !slices.Equal(got, []string{rs[0].ID, rs[1].ID}) {
		t.Errorf("rooms/batch holds %v, want %s and %s", got, rs[0].ID, rs[1].ID)
	}

	if got := counter(t, reg, "herald_channel_events_published_total"); got != 5 {
		t.Errorf("channel events counted %v, want 5", got)
	}
	if got := counter(t, reg, "herald_ingest_recipients_total"); got != 4 {
		t.Errorf("recipients counted %v, want 4: channels are not recipients", got)
	}
}

// TestNotifyPublishFails: a notification whose channels cannot be written
// is not acknowledged, though its inbox entries are stored; a retry with
// its key completes the channels without a second inbox entry.
func TestNotifyPublishFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openChannelStore(t)
	reg := prometheus.NewRegistry()
	svc := ingest.New(router.New(st), st, ingest.Options{Registerer: reg})
	n := toAudience("k", []string{"alice"}, nil, []string{"rooms/dev", "rooms/ops"})

	st.failing.Store(true)
	if r, err := svc.NotifyOne(ctx, "svc", n); !errors.Is(err, notify.ErrUnavailable) {
		t.Fatalf("NotifyOne with the channels down = %+v, %v; want ErrUnavailable", r, err)
	}
	if rs, err := svc.Notify(ctx, "svc", []*heraldv1.Notification{n}); !errors.Is(err, notify.ErrUnavailable) {
		t.Fatalf("Notify with the channels down = %+v, %v; want ErrUnavailable", rs, err)
	}
	stored := inboxIDs(t, st, "alice")
	if len(stored) != 1 || channelIDs(t, st, "rooms/dev") != nil {
		t.Fatalf("after the failures: alice holds %v, rooms/dev %v; want the inbox entry only", stored, channelIDs(t, st, "rooms/dev"))
	}
	if got := metric(t, reg, "herald_ingest_notifications_total", "failed"); got != 2 {
		t.Errorf("failed = %v, want 2", got)
	}

	st.failing.Store(false)
	for range 2 {
		r, err := svc.NotifyOne(ctx, "svc", n)
		if err != nil || !r.Duplicate || r.ID != stored[0] || r.Recipients != 1 {
			t.Fatalf("retry = %+v, %v; want a duplicate of %s", r, err, stored[0])
		}
	}
	for _, ch := range []notify.Channel{"rooms/dev", "rooms/ops"} {
		if got := channelIDs(t, st, ch); !slices.Equal(got, stored) {
			t.Errorf("%s holds %v after the retries, want %v", ch, got, stored)
		}
	}
	if got := inboxIDs(t, st, "alice"); !slices.Equal(got, stored) {
		t.Errorf("alice holds %v after the retries, want %v", got, stored)
	}
}
