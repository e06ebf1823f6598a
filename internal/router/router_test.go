package router_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
)

var errBroken = errors.New("subscription store down")

// fakeStore is a topic → subscribers table and users' preferences, like a
// store; the topic "broken" fails.
type fakeStore struct {
	subs  map[notify.Topic][]notify.UserID // each sorted
	prefs map[notify.UserID]store.UserPreferences

	mu        sync.Mutex
	prefCalls int
}

func (f *fakeStore) TopicSubscribers(_ context.Context, t notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	if t == "broken" {
		return nil, errBroken
	}
	all := f.subs[t]
	i, _ := slices.BinarySearch(all, after)
	if i < len(all) && all[i] == after {
		i++
	}
	return slices.Clone(all[i:min(i+limit, len(all))]), nil
}

func (f *fakeStore) PreferencesOf(_ context.Context, users []notify.UserID) ([]store.UserPreferences, error) {
	f.mu.Lock()
	f.prefCalls++
	f.mu.Unlock()
	out := make([]store.UserPreferences, len(users))
	for i, u := range users {
		out[i] = f.prefs[u]
	}
	return out, nil
}

// subsOnly hides the fake's preferences.
type subsOnly struct{ f *fakeStore }

func (s subsOnly) TopicSubscribers(ctx context.Context, t notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	return s.f.TopicSubscribers(ctx, t, after, limit)
}

// route collects Route's parts.
func route(t *testing.T, r *router.Router, n *notify.Notification, after notify.UserID, partSize int) [][]store.Recipient {
	t.Helper()
	var parts [][]store.Recipient
	err := r.Route(context.Background(), n, after, partSize, func(p []store.Recipient) error {
		parts = append(parts, p)
		return nil
	})
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	return parts
}

func flat(parts [][]store.Recipient) []store.Recipient {
	out := []store.Recipient{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func direct(users ...notify.UserID) []store.Recipient {
	out := make([]store.Recipient, len(users))
	for i, u := range users {
		out[i] = store.Recipient{User: u}
	}
	return out
}

func via(t notify.Topic, users ...notify.UserID) []store.Recipient {
	out := direct(users...)
	for i := range out {
		out[i].Topic = t
	}
	return out
}

func sorted(rs ...[]store.Recipient) []store.Recipient {
	out := []store.Recipient{}
	for _, r := range rs {
		out = append(out, r...)
	}
	slices.SortFunc(out, func(a, b store.Recipient) int {
		if a.User < b.User {
			return -1
		}
		if a.User > b.User {
			return 1
		}
		return 0
	})
	return out
}

func TestRoute(t *testing.T) {
	t.Parallel()
	fs := &fakeStore{
		subs: map[notify.Topic][]notify.UserID{
			"news":   {"alice", "bob", "carol"},
			"sports": {"carol", "dave", "erin"},
			"empty":  nil,
		},
		prefs: map[notify.UserID]store.UserPreferences{
			"bob":   {MutedTopics: []notify.Topic{"news"}},
			"carol": {MutedTopics: []notify.Topic{"news"}},
			"dave":  {MutedCategories: []string{"promo", "social"}},
			"erin":  {MutedTopics: []notify.Topic{"news", "sports"}, MutedCategories: []string{"billing"}},
		},
	}
	type n = notify.Notification
	tests := []struct {
		name  string
		subs  router.Subscribers
		n     *n
		after notify.UserID
		want  []store.Recipient
	}{
		{"users only, sorted, each once", fs, &n{Users: []notify.UserID{"bob", "alice", "bob"}},
			"", direct("alice", "bob")},
		{"topic only", subsOnly{fs}, &n{Topics: []notify.Topic{"sports"}},
			"", via("sports", "carol", "dave", "erin")},
		{"overlapping topics: first topic wins", subsOnly{fs}, &n{Topics: []notify.Topic{"sports", "news"}},
			"", sorted(via("sports", "carol", "dave", "erin"), via("news", "alice", "bob"))},
		{"direct wins over topic", subsOnly{fs}, &n{Users: []notify.UserID{"carol", "zed"}, Topics: []notify.Topic{"news"}},
			"", sorted(direct("carol", "zed"), via("news", "alice", "bob"))},
		{"empty topic", fs, &n{Topics: []notify.Topic{"empty"}}, "", []store.Recipient{}},
		{"nil subscriptions: topics reach nobody", nil, &n{Users: []notify.UserID{"alice"}, Topics: []notify.Topic{"news"}},
			"", direct("alice")},
		{"muted topic, reached through another", fs, &n{Topics: []notify.Topic{"news", "sports"}},
			"", sorted(via("news", "alice"), via("sports", "carol", "dave"))},
		{"muted every topic that reaches them", fs, &n{Topics: []notify.Topic{"news"}},
			"", via("news", "alice")},
		{"topic mute does not mute a direct address", fs, &n{Users: []notify.UserID{"bob"}, Topics: []notify.Topic{"news"}},
			"", sorted(direct("bob"), via("news", "alice"))},
		{"muted category blocks direct and topic", fs, &n{Users: []notify.UserID{"dave", "alice"}, Topics: []notify.Topic{"sports"}, Category: "social"},
			"", sorted(direct("alice"), via("sports", "carol"))},
		{"muted category blocks direct only", fs, &n{Users: []notify.UserID{"dave", "erin", "alice"}, Category: "promo"},
			"", direct("alice", "erin")},
		{"critical ignores preferences", fs, &n{Users: []notify.UserID{"dave"}, Topics: []notify.Topic{"news", "sports"}, Category: "promo", Priority: notify.PriorityCritical},
			"", sorted(direct("dave"), via("news", "alice", "bob", "carol"), via("sports", "erin"))},
		{"no preferences: no mutes", subsOnly{fs}, &n{Users: []notify.UserID{"dave"}, Topics: []notify.Topic{"news"}, Category: "promo"},
			"", sorted(direct("dave"), via("news", "alice", "bob", "carol"))},
		{"resume after", fs, &n{Users: []notify.UserID{"alice", "zed"}, Topics: []notify.Topic{"news", "sports"}},
			"bob", sorted(direct("zed"), via("sports", "carol", "dave"))},
		{"resume after, users only", fs, &n{Users: []notify.UserID{"carol", "alice", "bob"}},
			"alice", direct("bob", "carol")},
		{"resume after the last", fs, &n{Users: []notify.UserID{"alice"}, Topics: []notify.Topic{"news"}},
			"zzz", []store.Recipient{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, size := range []int{1, 2, 1000} {
				parts := route(t, router.New(tt.subs), tt.n, tt.after, size)
				if got := flat(parts); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("part size %d: Route = %v, want %v", size, got, tt.want)
				}
				for i, p := range parts {
					if len(p) == 0 || len(p) > size || i < len(parts)-1 && len(p) != size {
						t.Errorf("part size %d: part %d has %d recipients", size, i, len(p))
					}
				}
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	fs := &fakeStore{subs: map[notify.Topic][]notify.UserID{"news": {"bob"}}}
	r := router.New(fs)
	ctx := context.Background()
	nop := func([]store.Recipient) error { return nil }
	if err := r.Route(ctx, &notify.Notification{Topics: []notify.Topic{"news", "broken"}}, "", 10, nop); !errors.Is(err, errBroken) {
		t.Errorf("Route err = %v, want %v", err, errBroken)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Route(cancelled, &notify.Notification{Topics: []notify.Topic{"news"}}, "", 10, nop); !errors.Is(err, context.Canceled) {
		t.Errorf("Route with cancelled context err = %v, want Canceled", err)
	}
	errStop := errors.New("stop")
	if err := r.Route(ctx, &notify.Notification{Users: []notify.UserID{"a"}, Topics: []notify.Topic{"news"}}, "", 1, func([]store.Recipient) error { return errStop }); !errors.Is(err, errStop) {
		t.Errorf("Route with failing fn err = %v, want %v", err, errStop)
	}
	unsorted := &fakeStore{subs: map[notify.Topic][]notify.UserID{"news": {"bob", "alice"}}}
	if err := router.New(unsorted).Route(ctx, &notify.Notification{Topics: []notify.Topic{"news"}}, "", 10, nop); err == nil {
		t.Error("Route accepted subscribers out of order")
	}
}

// TestRoutePreferenceCalls checks that preferences are asked once per part
// of users, and not at all when nothing can be muted.
func TestRoutePreferenceCalls(t *testing.T) {
	t.Parallel()
	users := make([]notify.UserID, 10)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("u%02d", i))
	}
	tests := []struct {
		name string
		n    *notify.Notification
		want int
	}{
		{"direct, no category", &notify.Notification{Users: users}, 0},
		{"direct, category", &notify.Notification{Users: users, Category: "c"}, 4},
		{"topic", &notify.Notification{Topics: []notify.Topic{"t"}}, 4},
		{"topic, critical", &notify.Notification{Topics: []notify.Topic{"t"}, Priority: notify.PriorityCritical}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := &fakeStore{subs: map[notify.Topic][]notify.UserID{"t": users}}
			route(t, router.New(fs), tt.n, "", 3)
			if fs.prefCalls != tt.want {
				t.Errorf("PreferencesOf calls = %d, want %d", fs.prefCalls, tt.want)
			}
		})
	}
}

// bigTopics generates sorted subscribers without holding them: topic "all"
// has users u000000…, topic "third" every third of them. It tracks how many
// IDs the router holds in pages.
type bigTopics struct {
	users int

	mu       sync.Mutex
	pages    map[notify.Topic]int // size of the page each topic holds now
	lastSeen map[notify.Topic]notify.UserID
	errs     []string
}

func bigUser(i int) notify.UserID { return notify.UserID(fmt.Sprintf("u%06d", i)) }

func (b *bigTopics) TopicSubscribers(_ context.Context, t notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	step := 1
	if t == "third" {
		step = 3
	}
	start := 0
	if after != "" {
		fmt.Sscanf(string(after), "u%d", &start)
		start++
	}
	start = (start + step - 1) / step * step
	var page []notify.UserID
	for i := start; i < b.users && len(page) < limit; i += step {
		page = append(page, bigUser(i))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	// A page is released when the next one is asked for; that must be
	// after its last ID.
	if last := b.lastSeen[t]; after != last {
		b.errs = append(b.errs, fmt.Sprintf("topic %s: page after %q asked while holding one ending at %q", t, after, last))
	}
	b.pages[t] = len(page)
	if len(page) > 0 {
		b.lastSeen[t] = page[len(page)-1]
	}
	return page, nil
}

func (b *bigTopics) held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.pages {
		n += p
	}
	return n
}

func TestRouteLargeTopicInParts(t *testing.T) {
	t.Parallel()
	const users, partSize = 100_000, 1000
	src := &bigTopics{users: users, pages: map[notify.Topic]int{}, lastSeen: map[notify.Topic]notify.UserID{}}
	n := &notify.Notification{Users: []notify.UserID{bigUser(5), bigUser(99_999)}, Topics: []notify.Topic{"third", "all"}}
	bound := partSize * (len(n.Topics) + 1)
	var parts, total, maxHeld int
	var prev notify.UserID
	err := router.New(src).Route(context.Background(), n, "", partSize, func(p []store.Recipient) error {
		parts++
		if len(p) > partSize {
			t.Fatalf("part %d has %d recipients", parts, len(p))
		}
		maxHeld = max(maxHeld, src.held()+len(p))
		for _, rc := range p {
			if rc.User <= prev {
				t.Fatalf("%s after %s: not ascending", rc.User, prev)
			}
			prev = rc.User
			var i int
			fmt.Sscanf(string(rc.User), "u%d", &i)
			want := notify.Topic("all")
			switch {
			case i == 5 || i == 99_999:
				want = ""
			case i%3 == 0:
				want = "third"
			}
			if rc.Topic != want {
				t.Fatalf("%s reached through %q, want %q", rc.User, rc.Topic, want)
			}
			total++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Route: %v", err)
	}
	if total != users || parts != users/partSize {
		t.Errorf("got %d recipients in %d parts, want %d in %d", total, parts, users, users/partSize)
	}
	if maxHeld > bound {
		t.Errorf("held up to %d IDs, want at most %d", maxHeld, bound)
	}
	for _, e := range src.errs {
		t.Error(e)
	}
}

func BenchmarkRoute(b *testing.B) {
	const users = 100_000
	fs := &fakeStore{subs: map[notify.Topic][]notify.UserID{}, prefs: map[notify.UserID]store.UserPreferences{}}
	all := make([]notify.UserID, users)
	for i := range all {
		all[i] = bigUser(i)
		switch i % 20 {
		case 0:
			fs.prefs[all[i]] = store.UserPreferences{MutedTopics: []notify.Topic{"building-42"}}
		case 10:
			fs.prefs[all[i]] = store.UserPreferences{MutedCategories: []string{"marketing"}}
		}
	}
	fs.subs["building-42"] = all
	r := router.New(fs)
	n := &notify.Notification{Topics: []notify.Topic{"building-42"}, Category: "alerts"}
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		err := r.Route(context.Background(), n, "", router.DefaultPartSize, func(p []store.Recipient) error {
			got += len(p)
			return nil
		})
		if err != nil || got != users-users/20 {
			b.Fatalf("Route: %d recipients, %v", got, err)
		}
	}
	b.ReportMetric(float64(users)*float64(b.N)/b.Elapsed().Seconds(), "recipients/s")
}

func BenchmarkRouteDirect(b *testing.B) {
	r := router.New(&fakeStore{})
	n := &notify.Notification{Users: []notify.UserID{"alice"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Route(context.Background(), n, "", router.DefaultPartSize, func([]store.Recipient) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
