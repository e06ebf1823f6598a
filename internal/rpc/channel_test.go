package rpc_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// TestListChannelEventsOldestAfterTrim: a request without `after` lists a
// channel from its oldest retained event, also once the history was
// trimmed by count or by age.
func TestListChannelEventsOldestAfterTrim(t *testing.T) {
	t.Parallel()
	const ch = notify.Channel("rooms/a")
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		kept     int // the store's history
		old, new int // events published an hour apart
		want     []int
	}{
		{"whole", 10, 0, 5, span(1, 5)},
		{"trimmed by count", 10, 0, 30, span(21, 30)},
		{"trimmed by age", 10, 4, 3, span(5, 7)},
		{"trimmed by count and age", 10, 20, 3, span(21, 23)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			now := start
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			st, err := embedded.Open(t.TempDir(), embedded.Options{
				ChannelHistory: tc.kept, ChannelHistoryAge: 90 * time.Minute, Now: clock,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			for i := 1; i <= tc.old+tc.new; i++ {
				if i == tc.old+1 {
					mu.Lock()
					now = now.Add(time.Hour)
					mu.Unlock()
				}
				n := &notify.Notification{ID: fmt.Sprint(i), Title: fmt.Sprint(i), CreateTime: clock()}
				if _, err := st.Publish(t.Context(), n, []notify.Channel{ch}); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			now = now.Add(time.Hour) // the old events are past the age now
			mu.Unlock()

			srv := rpc.NewChannelServer(rpc.ChannelConfig{
				Store: st, Policy: auth.ChannelPolicy{Public: []string{"rooms/*"}},
			})
			ctx := auth.WithClaims(t.Context(), auth.Claims{User: "u"})
			resp, err := srv.ListChannelEvents(ctx, &heraldv1.ListChannelEventsRequest{Channel: string(ch), Limit: 100})
			if err != nil {
				t.Fatalf("ListChannelEvents: %v", err)
			}
			var got []int
			for _, e := range resp.GetEvents() {
				var n int
				fmt.Sscan(e.GetTitle(), &n)
				got = append(got, n)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
			if last := resp.GetEvents()[len(resp.GetEvents())-1].GetCursor(); resp.GetNextAfter() != last {
				t.Errorf("next_after %s, want the last event's %s", resp.GetNextAfter(), last)
			}
		})
	}
}

// span is from, from+1, …, to.
func span(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}
