package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
)

var errCrash = errors.New("crash")

// partStore follows store.Part's contract: a first part writes an
// incomplete idempotency record, each part records its last user, the
// Final part completes it, and a first part (or, unlike the embedded store,
// a whole delivery) meeting an incomplete record stores nothing and says
// where to resume. A part's Result.Recipients counts that part's entries;
// an Incomplete or Duplicate one's, all the notification's.
type partStore struct {
	mu      sync.Mutex
	appends [][]store.Delivery
	records map[string]*record           // by idempotency key
	entries map[string][]store.Recipient // by notification ID
	events  map[notify.Channel][]string  // notification IDs, each once
	// failAt makes the append with that number (1-based) fail; with
	// lostReply it fails after storing, as a crash between commit and
	// reply would.
	failAt    int
	lostReply bool
}

type record struct {
	id       string
	count    int
	last     notify.UserID
	complete bool
}

func newPartStore() *partStore {
	return &partStore{records: map[string]*record{}, entries: map[string][]store.Recipient{}, events: map[notify.Channel][]string{}}
}

// Publish appends n's ID to each channel that does not hold it yet.
func (s *partStore) Publish(_ context.Context, n *notify.Notification, cs []notify.Channel) ([]notify.Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]notify.Cursor, len(cs))
	for i, c := range cs {
		j := slices.Index(s.events[c], n.ID)
		if j < 0 {
			s.events[c] = append(s.events[c], n.ID)
			j = len(s.events[c]) - 1
		}
		out[i] = notify.Cursor(j + 1)
	}
	return out, nil
}

func (s *partStore) Append(_ context.Context, ds []store.Delivery) ([]store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends = append(s.appends, ds)
	if len(s.appends) == s.failAt && !s.lostReply {
		return nil, errCrash
	}
	out := make([]store.Result, len(ds))
	for i, d := range ds {
		out[i] = s.append(d)
	}
	if len(s.appends) == s.failAt {
		return nil, errCrash
	}
	return out, nil
}

func (s *partStore) append(d store.Delivery) store.Result {
	n, key := d.Notification, d.Notification.IdempotencyKey
	rec := s.records[key]
	first := !d.Part.Multi || d.Part.Seq == 0
	switch {
	case key != "" && first && rec != nil && rec.complete:
		return store.Result{ID: rec.id, Recipients: rec.count, Duplicate: true}
	case key != "" && first && rec != nil:
		return store.Result{ID: rec.id, Recipients: rec.count, Incomplete: true, ResumeAfter: rec.last}
	case key != "" && first:
		rec = &record{id: n.ID}
		s.records[key] = rec
	case key == "":
		rec = &record{id: n.ID, count: len(s.entries[n.ID])}
	case rec == nil || rec.id != n.ID:
		panic(fmt.Sprintf("part %d of %s without its first part", d.Part.Seq, n.ID))
	}
	s.entries[n.ID] = append(s.entries[n.ID], d.Recipients...)
	rec.count += len(d.Recipients)
	if len(d.Recipients) > 0 {
		rec.last = d.Recipients[len(d.Recipients)-1].User
	}
	rec.complete = !d.Part.Multi || d.Part.Final
	return store.Result{ID: n.ID, Recipients: len(d.Recipients)}
}

// parts lists the appended deliveries of one notification, as "size:seq"
// with a trailing F for a Final part and W for a whole delivery.
func (s *partStore) parts(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ds := range s.appends {
		for _, d := range ds {
			if d.Notification.ID != id {
				continue
			}
			p := fmt.Sprintf("%d:%d", len(d.Recipients), d.Part.Seq)
			switch {
			case !d.Part.Multi:
				p = fmt.Sprintf("%d:W", len(d.Recipients))
			case d.Part.Final:
				p += "F"
			}
			out = append(out, p)
		}
	}
	return out
}

// checkOnce checks that the notification's entries reach each of users
// exactly once, in ascending order.
func (s *partStore) checkOnce(t *testing.T, id string, users int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entries[id]
	if len(es) != users {
		t.Errorf("notification %s has %d entries, want %d", id, len(es), users)
	}
	for i := 1; i < len(es); i++ {
		if es[i].User <= es[i-1].User {
			t.Errorf("entries %d and %d: %s then %s", i-1, i, es[i-1].User, es[i].User)
		}
	}
}

// subscribers returns n users u00, u01, … subscribed to topic "t".
func subscribers(n int) topicSubs {
	users := make([]notify.UserID, n)
	for i := range users {
		users[i] = notify.UserID(fmt.Sprintf("u%02d", i))
	}
	return topicSubs{"t": users}
}

func newFanService(subs router.Subscribers, app ingest.Store) *ingest.Service {
	return ingest.New(router.New(subs), app, ingest.Options{PartSize: 10})
}

func toTopic(key string) *heraldv1.Notification {
	return &heraldv1.Notification{Audience: &heraldv1.Audience{Topics: []string{"t"}}, Title: "x", IdempotencyKey: key}
}

func TestNotifyParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		subscribers int
		want        []string
	}{
		{0, []string{"0:W"}},
		{1, []string{"1:W"}},
		{10, []string{"10:W"}},
		{11, []string{"10:0", "1:1F"}},
		{20, []string{"10:0", "10:1F"}},
		{25, []string{"10:0", "10:1", "5:2F"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.subscribers), func(t *testing.T) {
			t.Parallel()
			st := newPartStore()
			svc := newFanService(subscribers(tt.subscribers), st)
			r, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
			if err != nil {
				t.Fatalf("NotifyOne: %v", err)
			}
			if r.Recipients != tt.subscribers || r.Duplicate {
				t.Errorf("result = %+v, want %d recipients", r, tt.subscribers)
			}
			if got := st.parts(r.ID); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parts = %v, want %v", got, tt.want)
			}
			st.checkOnce(t, r.ID, tt.subscribers)
			// Even with nobody reached, the key is recorded.
			again, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
			if err != nil || !again.Duplicate || again.ID != r.ID || again.Recipients != tt.subscribers {
				t.Errorf("retry = %+v, %v; want a duplicate of %+v", again, err, r)
			}
		})
	}
}

// TestNotifyMutedByAll checks that a notification everybody muted is still
// stored whole, with 0 recipients, so that its key is recorded.
func TestNotifyMutedByAll(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	subs := mutingSubs{subscribers(15)}
	svc := newFanService(subs, st)
	n := toTopic("k")
	n.Category = "promo"
	r, err := svc.NotifyOne(context.Background(), "svc", n)
	if err != nil || r.Recipients != 0 {
		t.Fatalf("NotifyOne = %+v, %v; want 0 recipients", r, err)
	}
	if got := st.parts(r.ID); fmt.Sprint(got) != "[0:W]" {
		t.Errorf("parts = %v, want one whole delivery of 0", got)
	}
}

// mutingSubs is topicSubs whose users all muted the category "promo".
type mutingSubs struct{ topicSubs }

func (mutingSubs) PreferencesOf(_ context.Context, users []notify.UserID) ([]store.UserPreferences, error) {
	out := make([]store.UserPreferences, len(users))
	for i := range out {
		out[i].MutedCategories = []string{"promo"}
	}
	return out, nil
}

func TestNotifyBatchWithParts(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	subs := subscribers(25)
	subs["small"] = []notify.UserID{"a", "b"}
	svc := newFanService(subs, st)
	small := func(title string) *heraldv1.Notification {
		return &heraldv1.Notification{Audience: &heraldv1.Audience{Topics: []string{"small"}, UserIds: []string{"c"}}, Title: title}
	}
	rs, err := svc.Notify(context.Background(), "svc", []*heraldv1.Notification{small("a"), toTopic(""), small("b")})
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if len(rs) != 3 || rs[0].Recipients != 3 || rs[1].Recipients != 25 || rs[2].Recipients != 3 {
		t.Fatalf("results = %+v, want 3, 25, 3 recipients", rs)
	}
	// The parts of the big one, then the two small ones in one append.
	if len(st.appends) != 4 || len(st.appends[3]) != 2 {
		t.Fatalf("%d appends, the last of %d deliveries; want 4, the last of 2", len(st.appends), len(st.appends[len(st.appends)-1]))
	}
	for i, title := range []string{"a", "b"} {
		if d := st.appends[3][i]; d.Notification.Title != title || d.Notification.ID != rs[2*i].ID || d.Part.Multi {
			t.Errorf("whole delivery %d = %q %s %+v, want %q %s", i, d.Notification.Title, d.Notification.ID, d.Part, title, rs[2*i].ID)
		}
	}
	st.checkOnce(t, rs[1].ID, 25)
}

func TestNotifyResumesAfterCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		failAt     int
		lostReply  bool
		retryUsers int      // subscribers when the retry comes
		retry      []string // the retry's parts
		want       int      // recipients in all
	}{
		{"second part lost", 2, false, 25, []string{"10:1", "5:2F"}, 25},
		{"final part lost", 3, false, 25, []string{"5:1F"}, 25},
		{"second part stored, reply lost", 2, true, 25, []string{"5:1F"}, 25},
		{"nobody left after the resume point", 2, true, 20, []string{"0:1F"}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newPartStore()
			st.failAt, st.lostReply = tt.failAt, tt.lostReply
			subs := subscribers(25)
			svc := newFanService(subs, st)
			if _, err := svc.NotifyOne(context.Background(), "svc", toTopic("k")); !errors.Is(err, errCrash) {
				t.Fatalf("first attempt err = %v, want %v", err, errCrash)
			}
			first := st.appends[0][0].Notification.ID
			before := len(st.appends)
			subs["t"] = subs["t"][:tt.retryUsers]

			r, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if r.ID != first || r.Recipients != tt.want || r.Duplicate {
				t.Errorf("retry = %+v, want %d recipients under %s", r, tt.want, first)
			}
			var retry []string
			for _, ds := range st.appends[before:] {
				d := ds[0]
				if d.Part.Seq == 0 {
					continue // the refused first part
				}
				p := fmt.Sprintf("%d:%d", len(d.Recipients), d.Part.Seq)
				if d.Part.Final {
					p += "F"
				}
				retry = append(retry, p)
			}
			if fmt.Sprint(retry) != fmt.Sprint(tt.retry) {
				t.Errorf("retry's parts = %v, want %v", retry, tt.retry)
			}
			st.checkOnce(t, first, tt.want)
			again, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
			if err != nil || !again.Duplicate || again.Recipients != tt.want {
				t.Errorf("third attempt = %+v, %v; want a duplicate with %d recipients", again, err, tt.want)
			}
		})
	}
}

// TestNotifyResumeFromWhole covers a retry whose recipients now fit in one
// part while the first attempt's parts are incomplete: the store answers
// the whole delivery with ResumeAfter, and ingest completes the parts.
func TestNotifyResumeFromWhole(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	st.failAt = 2
	subs := subscribers(25)
	svc := newFanService(subs, st)
	if _, err := svc.NotifyOne(context.Background(), "svc", toTopic("k")); !errors.Is(err, errCrash) {
		t.Fatalf("first attempt err = %v", err)
	}
	first := st.appends[0][0].Notification.ID // its part 0 reached u00…u09
	// Meanwhile most unsubscribed: u00…u08 and u15 are left.
	subs["t"] = append(subs["t"][:9:9], "u15")
	r, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
	if err != nil || r.ID != first || r.Recipients != 11 {
		t.Fatalf("retry = %+v, %v; want 11 recipients under %s", r, err, first)
	}
	// Appends: part 0, the lost part 1, the retry refused whole, and the
	// final part with u15.
	if got := st.parts(first); fmt.Sprint(got) != "[10:0 10:1 10:W 1:1F]" {
		t.Errorf("parts = %v, want the retry to end with a final part of u15", got)
	}
	st.checkOnce(t, first, 11)
}

// TestNotifyConcurrentRetries sends one multi-part notification many times
// at once: whatever the interleaving, every user gets it once and every
// attempt reports the same notification.
func TestNotifyConcurrentRetries(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	svc := newFanService(subscribers(95), st)
	const attempts = 8
	results := make([]store.Result, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			r, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
			}
			results[i] = r
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Duplicate {
			fresh++
		}
		if r.ID != results[0].ID || r.Recipients != 95 {
			t.Errorf("result %+v, want 95 recipients under %s", r, results[0].ID)
		}
	}
	if fresh != 1 {
		t.Errorf("%d attempts stored it, want 1", fresh)
	}
	st.checkOnce(t, results[0].ID, 95)
}

// blockingStore holds every append until released, to show that a retry
// waits for the attempt in progress.
type blockingStore struct {
	*partStore
	entered chan struct{}
	release chan struct{}
}

func (s blockingStore) Append(ctx context.Context, ds []store.Delivery) ([]store.Result, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.partStore.Append(ctx, ds)
}

func TestNotifyRetryWaitsForKey(t *testing.T) {
	t.Parallel()
	st := blockingStore{newPartStore(), make(chan struct{}), make(chan struct{})}
	svc := newFanService(subscribers(25), st)
	done := make(chan error, 1)
	go func() {
		_, err := svc.NotifyOne(context.Background(), "svc", toTopic("k"))
		done <- err
	}()
	<-st.entered // the first attempt is storing its first part

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := svc.NotifyOne(ctx, "svc", toTopic("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("retry during the first attempt: err = %v, want it to wait until its deadline", err)
	}
	close(st.release)
	go func() {
		for range st.entered {
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	close(st.entered)
	if len(st.appends) != 3 {
		t.Errorf("%d appends, want the first attempt's 3 only", len(st.appends))
	}
}

func TestNotifyPartErrors(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	st.failAt = 1
	svc := newFanService(subscribers(25), st)
	if _, err := svc.NotifyOne(context.Background(), "svc", toTopic("")); !errors.Is(err, errCrash) {
		t.Errorf("failing first part: err = %v, want %v", err, errCrash)
	}
	errDown := errors.New("subscriptions down")
	svc = newFanService(failingSubs{subscribers(25), errDown}, newPartStore())
	if _, err := svc.NotifyOne(context.Background(), "svc", toTopic("k")); !errors.Is(err, errDown) {
		t.Errorf("routing failure midway: err = %v, want %v", err, errDown)
	}
}

// failingSubs fails from the second page on.
type failingSubs struct {
	topicSubs
	err error
}

func (f failingSubs) TopicSubscribers(ctx context.Context, t notify.Topic, after notify.UserID, limit int) ([]notify.UserID, error) {
	if after != "" {
		return nil, f.err
	}
	return f.topicSubs.TopicSubscribers(ctx, t, after, limit)
}

// TestNotifyPartsWithChannels: a notification stored in parts is published
// to its channels once all its parts are stored; after a crash midway, the
// retry that completes the parts publishes it under the first attempt's ID,
// and later retries publish nothing again.
func TestNotifyPartsWithChannels(t *testing.T) {
	t.Parallel()
	st := newPartStore()
	st.failAt = 2
	svc := newFanService(subscribers(25), st)
	n := toTopic("k")
	n.Audience.Channels = []string{"rooms/a", "rooms/b"}
	if _, err := svc.NotifyOne(context.Background(), "svc", n); !errors.Is(err, errCrash) {
		t.Fatalf("first attempt err = %v, want %v", err, errCrash)
	}
	if len(st.events) != 0 {
		t.Fatalf("published %v before the parts were stored", st.events)
	}
	first := st.appends[0][0].Notification.ID
	for range 2 {
		r, err := svc.NotifyOne(context.Background(), "svc", n)
		if err != nil || r.ID != first || r.Recipients != 25 {
			t.Fatalf("retry = %+v, %v; want 25 recipients under %s", r, err, first)
		}
	}
	st.checkOnce(t, first, 25)
	for _, ch := range []notify.Channel{"rooms/a", "rooms/b"} {
		if got := st.events[ch]; fmt.Sprint(got) != fmt.Sprint([]string{first}) {
			t.Errorf("%s holds %v, want [%s]", ch, got, first)
		}
	}
}
