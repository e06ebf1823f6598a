package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// RunSubscriptions runs the contract tests of store.Subscriptions against
// the backend that open opens.
func RunSubscriptions(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"BulkCounts", testSubscribeCounts},
		{"Empty", testSubscribeEmpty},
		{"SubscribersOrder", testSubscribersOrder},
		{"SubscribersPaging", testSubscribersPaging},
		{"PagingUnderChurn", testPagingUnderChurn},
		{"UserTopics", testUserTopics},
		{"SubscriptionsCancelledContext", testSubscriptionsCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// RunPreferences runs the contract tests of store.Preferences against the
// backend that open opens.
func RunPreferences(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"MuteUnmute", testMuteUnmute},
		{"Idempotent", testPreferencesIdempotent},
		{"PreferencesOf", testPreferencesOf},
		{"Concurrent", testPreferencesConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func mustSubscribe(t *testing.T, s store.Store, topics []notify.Topic, users []notify.UserID) int {
	t.Helper()
	n, err := s.Subscribe(t.Context(), topics, users)
	if err != nil {
		t.Fatalf("Subscribe(%v, %v): %v", topics, users, err)
	}
	return n
}

func mustUnsubscribe(t *testing.T, s store.Store, topics []notify.Topic, users []notify.UserID) int {
	t.Helper()
	n, err := s.Unsubscribe(t.Context(), topics, users)
	if err != nil {
		t.Fatalf("Unsubscribe(%v, %v): %v", topics, users, err)
	}
	return n
}

// allSubscribers pages through topic's users with pages of size limit.
func allSubscribers(t *testing.T, s store.Store, topic notify.Topic, limit int) []notify.UserID {
	t.Helper()
	var (
		all   []notify.UserID
		after notify.UserID
	)
	for range 1_000_000 {
		page, err := s.TopicSubscribers(t.Context(), topic, after, limit)
		if err != nil {
			t.Fatalf("TopicSubscribers(%s, %q, %d): %v", topic, after, limit, err)
		}
		if len(page) > limit {
			t.Fatalf("TopicSubscribers(%s, %q, %d) returned %d users", topic, after, limit, len(page))
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1]
	}
	t.Fatal("TopicSubscribers never ended")
	return nil
}

func allTopics(t *testing.T, s store.Store, user notify.UserID, limit int) []notify.Topic {
	t.Helper()
	var (
		all   []notify.Topic
		after notify.Topic
	)
	for range 1_000_000 {
		page, err := s.UserTopics(t.Context(), user, after, limit)
		if err != nil {
			t.Fatalf("UserTopics(%s, %q, %d): %v", user, after, limit, err)
		}
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1]
	}
	t.Fatal("UserTopics never ended")
	return nil
}

func userIDs(prefix string, n int) []notify.UserID {
	out := make([]notify.UserID, n)
	for i := range out {
		out[i] = notify.UserID(fmt.Sprintf("%s%04d", prefix, i))
	}
	return out
}

func testSubscribeCounts(t *testing.T, open Open) {
	s := open(t, nil)
	topics := []notify.Topic{"news", "sports"}
	users := []notify.UserID{"ann", "ben", "cid"}
	if n := mustSubscribe(t, s, topics, users); n != 6 {
		t.Errorf("Subscribe 2 topics × 3 users = %d, want 6", n)
	}
	if n := mustSubscribe(t, s, topics, users); n != 0 {
		t.Errorf("Subscribe again = %d, want 0", n)
	}
	// Only the new pairs count, and repeats within a call count once.
	if n := mustSubscribe(t, s, []notify.Topic{"news", "weather", "news"}, []notify.UserID{"ann", "dan", "dan"}); n != 3 {
		t.Errorf("Subscribe with 3 new pairs = %d, want 3", n)
	}
	if n := mustUnsubscribe(t, s, []notify.Topic{"news", "nothing"}, []notify.UserID{"ann", "ben", "zed"}); n != 2 {
		t.Errorf("Unsubscribe with 2 existing pairs = %d, want 2", n)
	}
	if n := mustUnsubscribe(t, s, []notify.Topic{"news"}, []notify.UserID{"ann", "ben"}); n != 0 {
		t.Errorf("Unsubscribe again = %d, want 0", n)
	}
	for topic, want := range map[notify.Topic][]notify.UserID{
		"news":    {"cid", "dan"},
		"sports":  {"ann", "ben", "cid"},
		"weather": {"ann", "dan"},
		"nothing": nil,
	} {
		if got := allSubscribers(t, s, topic, 10); !slices.Equal(got, want) {
			t.Errorf("subscribers of %s = %v, want %v", topic, got, want)
		}
	}
	for user, want := range map[notify.UserID][]notify.Topic{
		"ann": {"sports", "weather"},
		"ben": {"sports"},
		"dan": {"news", "weather"},
		"zed": nil,
	} {
		if got := allTopics(t, s, user, 10); !slices.Equal(got, want) {
			t.Errorf("topics of %s = %v, want %v", user, got, want)
		}
	}
}

func testSubscribeEmpty(t *testing.T, open Open) {
	s := open(t, nil)
	if n := mustSubscribe(t, s, nil, []notify.UserID{"ann"}); n != 0 {
		t.Errorf("Subscribe without topics = %d, want 0", n)
	}
	if n := mustSubscribe(t, s, []notify.Topic{"news"}, nil); n != 0 {
		t.Errorf("Subscribe without users = %d, want 0", n)
	}
	if n := mustUnsubscribe(t, s, nil, nil); n != 0 {
		t.Errorf("Unsubscribe of nothing = %d, want 0", n)
	}
	if got := allSubscribers(t, s, "news", 10); len(got) != 0 {
		t.Errorf("subscribers of news = %v, want none", got)
	}
}

func testSubscribersOrder(t *testing.T, open Open) {
	s := open(t, nil)
	// Byte order, whatever the order of subscription; a user ID that is a
	// prefix of another sorts first, and topics sharing a prefix stay apart.
	users := []notify.UserID{"b", "a", "ab", "B", "a:1", "aa", "z", "0"}
	for _, u := range users {
		mustSubscribe(t, s, []notify.Topic{"t"}, []notify.UserID{u})
	}
	mustSubscribe(t, s, []notify.Topic{"tt", "t/x"}, []notify.UserID{"other"})
	want := slices.Sorted(slices.Values(users))
	for _, limit := range []int{1, 3, 100} {
		if got := allSubscribers(t, s, "t", limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: subscribers = %v, want %v", limit, got, want)
		}
	}
	// A page resumes after any user ID, subscribed or not.
	page, err := s.TopicSubscribers(t.Context(), "t", "aa0", 2)
	if err != nil {
		t.Fatalf("TopicSubscribers: %v", err)
	}
	if want := []notify.UserID{"ab", "b"}; !slices.Equal(page, want) {
		t.Errorf("page after aa0 = %v, want %v", page, want)
	}
	// A limit of zero or less means a default page, not nothing.
	page, err = s.TopicSubscribers(t.Context(), "t", "", 0)
	if err != nil {
		t.Fatalf("TopicSubscribers(limit 0): %v", err)
	}
	if !slices.Equal(page, want) {
		t.Errorf("limit 0: subscribers = %v, want %v", page, want)
	}
}

func testSubscribersPaging(t *testing.T, open Open) {
	s := open(t, nil)
	users := userIDs("user-", 250)
	if n := mustSubscribe(t, s, []notify.Topic{"big"}, users); n != len(users) {
		t.Fatalf("Subscribe %d users = %d", len(users), n)
	}
	for _, limit := range []int{1, 7, 100} {
		got := allSubscribers(t, s, "big", limit)
		if !slices.Equal(got, users) {
			t.Errorf("limit %d: got %d users (first %v), want each of %d once in order", limit, len(got), got[:min(3, len(got))], len(users))
		}
	}
}

// testPagingUnderChurn pages through a topic while other users come and
// go: every user subscribed throughout appears exactly once, in order.
func testPagingUnderChurn(t *testing.T, open Open) {
	s := open(t, nil)
	const topic = "churn"
	stable := userIDs("u-", 300)
	for i := range stable {
		stable[i] += "-s"
	}
	mustSubscribe(t, s, []notify.Topic{topic}, stable)
	// Churning users sort between the stable ones.
	churn := userIDs("u-", 300)
	for i := range churn {
		churn[i] += "-c"
	}

	stop := make(chan struct{})
	var (
		wg     sync.WaitGroup
		errsMu sync.Mutex
		errs   []error
	)
	for w := range 2 {
		wg.Go(func() {
			for i := 0; i < 100_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := []notify.UserID{churn[(i*7+w*150)%len(churn)]}
				var err error
				if i%2 == 0 {
					_, err = s.Subscribe(t.Context(), []notify.Topic{topic}, u)
				} else {
					_, err = s.Unsubscribe(t.Context(), []notify.Topic{topic}, u)
				}
				if err != nil {
					errsMu.Lock()
					errs = append(errs, err)
					errsMu.Unlock()
					return
				}
			}
		})
	}
	var got [][]notify.UserID
	for _, limit := range []int{1, 7, 100} {
		got = append(got, allSubscribers(t, s, topic, limit))
	}
	close(stop)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("churn: %v", err)
	}
	for i, limit := range []int{1, 7, 100} {
		all := got[i]
		if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Errorf("limit %d: listing not strictly ascending", limit)
		}
		var seen []notify.UserID
		for _, u := range all {
			if _, ok := slices.BinarySearch(stable, u); ok {
				seen = append(seen, u)
			}
		}
		if !slices.Equal(seen, stable) {
			t.Errorf("limit %d: saw %d of the %d stable users, want each once", limit, len(seen), len(stable))
		}
	}
}

func testUserTopics(t *testing.T, open Open) {
	s := open(t, nil)
	topics := []notify.Topic{"orders/42", "news", "a", "news.eu", "z:1", "alerts"}
	mustSubscribe(t, s, topics, []notify.UserID{"ann"})
	mustSubscribe(t, s, []notify.Topic{"other"}, []notify.UserID{"an", "anna"})
	want := slices.Sorted(slices.Values(topics))
	for _, limit := range []int{1, 7, 100} {
		if got := allTopics(t, s, "ann", limit); !slices.Equal(got, want) {
			t.Errorf("limit %d: topics = %v, want %v", limit, got, want)
		}
	}
	mustUnsubscribe(t, s, []notify.Topic{"news"}, []notify.UserID{"ann"})
	want = slices.DeleteFunc(want, func(x notify.Topic) bool { return x == "news" })
	if got := allTopics(t, s, "ann", 2); !slices.Equal(got, want) {
		t.Errorf("after unsubscribing news: topics = %v, want %v", got, want)
	}
}

func testSubscriptionsCancelled(t *testing.T, open Open) {
	s := open(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Subscribe(ctx, []notify.Topic{"t"}, []notify.UserID{"ann"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe with a cancelled context: error = %v, want context.Canceled", err)
	}
	if got := allSubscribers(t, s, "t", 10); len(got) != 0 {
		t.Errorf("subscribers after a cancelled Subscribe = %v, want none", got)
	}
	if _, err := s.TopicSubscribers(ctx, "t", "", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("TopicSubscribers with a cancelled context: error = %v, want context.Canceled", err)
	}
	if _, err := s.UpdatePreferences(ctx, "ann", store.PreferenceChange{MuteTopics: []notify.Topic{"t"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("UpdatePreferences with a cancelled context: error = %v, want context.Canceled", err)
	}
}

func mustUpdate(t *testing.T, s store.Store, user notify.UserID, c store.PreferenceChange) store.UserPreferences {
	t.Helper()
	p, err := s.UpdatePreferences(t.Context(), user, c)
	if err != nil {
		t.Fatalf("UpdatePreferences(%s): %v", user, err)
	}
	return p
}

func mustPreferences(t *testing.T, s store.Store, user notify.UserID) store.UserPreferences {
	t.Helper()
	p, err := s.UserPreferences(t.Context(), user)
	if err != nil {
		t.Fatalf("UserPreferences(%s): %v", user, err)
	}
	return p
}

func samePrefs(a, b store.UserPreferences) bool {
	return slices.Equal(a.MutedTopics, b.MutedTopics) && slices.Equal(a.MutedCategories, b.MutedCategories)
}

func testMuteUnmute(t *testing.T, open Open) {
	s := open(t, nil)
	if p := mustPreferences(t, s, "ann"); !samePrefs(p, store.UserPreferences{}) {
		t.Errorf("preferences of a new user = %+v, want none", p)
	}
	got := mustUpdate(t, s, "ann", store.PreferenceChange{
		MuteTopics:     []notify.Topic{"sports", "news", "sports", "alerts"},
		MuteCategories: []string{"promo", "digest"},
	})
	want := store.UserPreferences{
		MutedTopics:     []notify.Topic{"alerts", "news", "sports"},
		MutedCategories: []string{"digest", "promo"},
	}
	if !samePrefs(got, want) {
		t.Errorf("after muting: %+v, want %+v", got, want)
	}
	if p := mustPreferences(t, s, "ann"); !samePrefs(p, want) {
		t.Errorf("UserPreferences = %+v, want %+v", p, want)
	}
	// Mutes apply before unmutes; unmuting what is not muted is harmless.
	got = mustUpdate(t, s, "ann", store.PreferenceChange{
		MuteTopics:       []notify.Topic{"weather"},
		UnmuteTopics:     []notify.Topic{"news", "never-muted"},
		UnmuteCategories: []string{"promo"},
	})
	want = store.UserPreferences{
		MutedTopics:     []notify.Topic{"alerts", "sports", "weather"},
		MutedCategories: []string{"digest"},
	}
	if !samePrefs(got, want) {
		t.Errorf("after unmuting: %+v, want %+v", got, want)
	}
	if p := mustPreferences(t, s, "ann"); !samePrefs(p, want) {
		t.Errorf("UserPreferences = %+v, want %+v", p, want)
	}
	// Unmuting everything leaves the user as new.
	got = mustUpdate(t, s, "ann", store.PreferenceChange{
		UnmuteTopics:     want.MutedTopics,
		UnmuteCategories: want.MutedCategories,
	})
	if !samePrefs(got, store.UserPreferences{}) || !samePrefs(mustPreferences(t, s, "ann"), store.UserPreferences{}) {
		t.Errorf("after unmuting everything: %+v, want none", got)
	}
	// Other users are untouched.
	if p := mustPreferences(t, s, "an"); !samePrefs(p, store.UserPreferences{}) {
		t.Errorf("preferences of another user = %+v, want none", p)
	}
}

func testPreferencesIdempotent(t *testing.T, open Open) {
	s := open(t, nil)
	c := store.PreferenceChange{MuteTopics: []notify.Topic{"b", "a"}, MuteCategories: []string{"x"}}
	first := mustUpdate(t, s, "ben", c)
	again := mustUpdate(t, s, "ben", c)
	if !samePrefs(first, again) {
		t.Errorf("repeated update: %+v, then %+v", first, again)
	}
	if got := mustUpdate(t, s, "ben", store.PreferenceChange{}); !samePrefs(got, first) {
		t.Errorf("empty change returned %+v, want %+v", got, first)
	}
}

func testPreferencesOf(t *testing.T, open Open) {
	s := open(t, nil)
	muted := map[notify.UserID]store.UserPreferences{}
	for i, u := range []notify.UserID{"zoe", "amy", "mo", "a"} {
		p := mustUpdate(t, s, u, store.PreferenceChange{
			MuteTopics:     []notify.Topic{notify.Topic(fmt.Sprintf("t%d", i))},
			MuteCategories: []string{string(u)},
		})
		muted[u] = p
	}
	// Given order, unknown users, repeats, and IDs that prefix others.
	users := []notify.UserID{"zoe", "nobody", "a", "amy", "am", "zoe", "mo", "amyx"}
	got, err := s.PreferencesOf(t.Context(), users)
	if err != nil {
		t.Fatalf("PreferencesOf: %v", err)
	}
	if len(got) != len(users) {
		t.Fatalf("PreferencesOf returned %d for %d users", len(got), len(users))
	}
	for i, u := range users {
		if !samePrefs(got[i], muted[u]) {
			t.Errorf("PreferencesOf[%d] (%s) = %+v, want %+v", i, u, got[i], muted[u])
		}
	}
	if got, err := s.PreferencesOf(t.Context(), nil); err != nil || len(got) != 0 {
		t.Errorf("PreferencesOf(nil) = %v, %v; want empty", got, err)
	}
}

// testPreferencesConcurrent mutes one topic each from many goroutines:
// updates are atomic, so none is lost.
func testPreferencesConcurrent(t *testing.T, open Open) {
	s := open(t, nil)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdatePreferences(t.Context(), "cat", store.PreferenceChange{
				MuteTopics: []notify.Topic{notify.Topic(fmt.Sprintf("t%02d", i))},
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdatePreferences: %v", err)
		}
	}
	if got := mustPreferences(t, s, "cat").MutedTopics; len(got) != n || !slices.IsSorted(got) {
		t.Errorf("muted topics after %d concurrent mutes: %v", n, got)
	}
}
