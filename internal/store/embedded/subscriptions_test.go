package embedded_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestSubscriptionsSurviveReopenAndSweep checks that subscriptions and
// preferences are durable, and that retention never touches them.
func TestSubscriptionsSurviveReopenAndSweep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	clk := newClock()
	s, err := embedded.Open(dir, embedded.Options{Now: clk.Now, RetentionAge: time.Hour})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.Subscribe(ctx, []notify.Topic{"news", "sports"}, []notify.UserID{"ann", "ben"}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	want := store.UserPreferences{MutedTopics: []notify.Topic{"sports"}, MutedCategories: []string{"promo"}}
	if _, err := s.UpdatePreferences(ctx, "ann", store.PreferenceChange{MuteTopics: want.MutedTopics, MuteCategories: want.MutedCategories}); err != nil {
		t.Fatalf("UpdatePreferences: %v", err)
	}
	appendOK(t, s, to(note("old"), "ann"))
	clk.Advance(2 * time.Hour)
	if err := s.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openT(t, dir, embedded.Options{Now: clk.Now})
	got, err := s.TopicSubscribers(ctx, "news", "", 0)
	if err != nil || !slices.Equal(got, []notify.UserID{"ann", "ben"}) {
		t.Errorf("subscribers of news after reopen = %v, %v; want [ann ben]", got, err)
	}
	topics, err := s.UserTopics(ctx, "ben", "", 0)
	if err != nil || !slices.Equal(topics, []notify.Topic{"news", "sports"}) {
		t.Errorf("topics of ben after reopen = %v, %v; want [news sports]", topics, err)
	}
	p, err := s.UserPreferences(ctx, "ann")
	if err != nil || !slices.Equal(p.MutedTopics, want.MutedTopics) || !slices.Equal(p.MutedCategories, want.MutedCategories) {
		t.Errorf("preferences of ann after reopen = %+v, %v; want %+v", p, err, want)
	}
	if n, err := s.Subscribe(ctx, []notify.Topic{"news"}, []notify.UserID{"ann"}); err != nil || n != 0 {
		t.Errorf("Subscribe of an existing pair after reopen = %d, %v; want 0", n, err)
	}
}

func TestSubscriptionsAfterClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openT(t, t.TempDir(), embedded.Options{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Subscribe(ctx, []notify.Topic{"t"}, []notify.UserID{"u"}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if _, err := s.TopicSubscribers(ctx, "t", "", 10); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("TopicSubscribers after Close = %v, want ErrClosed", err)
	}
	if _, err := s.PreferencesOf(ctx, []notify.UserID{"u"}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("PreferencesOf after Close = %v, want ErrClosed", err)
	}
	if _, err := s.UpdatePreferences(ctx, "u", store.PreferenceChange{MuteCategories: []string{"c"}}); !errors.Is(err, notify.ErrClosed) {
		t.Errorf("UpdatePreferences after Close = %v, want ErrClosed", err)
	}
}

// TestSubscribeWriteErrorIsUnavailable makes the WAL fail under a
// subscription write: the caller gets ErrUnavailable, and so do later
// appends.
func TestSubscribeWriteErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	toggle := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})}
	s, err := embedded.Open("/db", embedded.Options{FS: errorfs.Wrap(vfs.NewMem(), toggle)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close() //nolint:errcheck // a store whose disk failed may fail to close
	if n, err := s.Subscribe(ctx, []notify.Topic{"t"}, []notify.UserID{"before"}); err != nil || n != 1 {
		t.Fatalf("Subscribe = %d, %v", n, err)
	}
	toggle.On()
	if _, err := s.Subscribe(ctx, []notify.Topic{"t"}, []notify.UserID{"during"}); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Subscribe with a failing disk = %v, want ErrUnavailable", err)
	}
	if _, err := s.UpdatePreferences(ctx, "u", store.PreferenceChange{MuteCategories: []string{"c"}}); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("UpdatePreferences after a failed commit = %v, want ErrUnavailable", err)
	}
	if _, err := s.Append(ctx, []store.Delivery{to(note("after"), "u")}); !errors.Is(err, notify.ErrUnavailable) {
		t.Errorf("Append after a failed commit = %v, want ErrUnavailable", err)
	}
}

// BenchmarkTopicSubscribers pages through a topic of 100,000 subscribers
// in pages of 1000, as the router does during a fan-out.
func BenchmarkTopicSubscribers(b *testing.B) {
	const (
		subscribers = 100_000
		page        = 1000
	)
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	users := make([]notify.UserID, subscribers)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("user-%08d", i))
	}
	// Another topic on either side, so the bounds matter.
	if _, err := s.Subscribe(b.Context(), []notify.Topic{"big", "bi", "big2"}, users); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var (
			after notify.UserID
			n     int
		)
		for {
			got, err := s.TopicSubscribers(b.Context(), "big", after, page)
			if err != nil {
				b.Fatal(err)
			}
			n += len(got)
			if len(got) < page {
				break
			}
			after = got[len(got)-1]
		}
		if n != subscribers {
			b.Fatalf("paged %d subscribers, want %d", n, subscribers)
		}
	}
	b.ReportMetric(float64(subscribers)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkPreferencesOf reads the preferences of a chunk of 1000
// recipients, 10% of whom muted something.
func BenchmarkPreferencesOf(b *testing.B) {
	const chunk = 1000
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	users := make([]notify.UserID, chunk)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("user-%08d", i))
		if i%10 == 0 {
			_, err := s.UpdatePreferences(b.Context(), users[i], store.PreferenceChange{
				MuteTopics:     []notify.Topic{"news", "sports"},
				MuteCategories: []string{"promo"},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ps, err := s.PreferencesOf(b.Context(), users)
		if err != nil {
			b.Fatal(err)
		}
		if len(ps[0].MutedTopics) != 2 || len(ps[1].MutedTopics) != 0 {
			b.Fatalf("unexpected preferences %+v %+v", ps[0], ps[1])
		}
	}
	b.ReportMetric(float64(chunk)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
