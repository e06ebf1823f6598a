package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/rpc"
	"github.com/heraldhq/herald/internal/store"
)

func as(user notify.UserID) context.Context { return auth.WithUser(context.Background(), user) }

// fields returns the BadRequest field violations of err.
func fields(err error) []string {
	var out []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField())
			}
		}
	}
	return out
}

func newInbox(t *testing.T) (*rpc.InboxServer, *fakeStore, *publisher) {
	t.Helper()
	st, pub := newFakeStore(), &publisher{}
	return rpc.NewInboxServer(rpc.InboxConfig{Store: st, Publisher: pub, SelfSubscribe: []string{"news/*", "team:*"}}), st, pub
}

func TestInboxValidation(t *testing.T) {
	t.Parallel()
	s, _, _ := newInbox(t)
	long := strings.Repeat("t", 201)
	many := func(n int, f func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	ids := func(n int) []string { return many(n, func(i int) string { return fmt.Sprint("n", i) }) }
	topics := func(n int) []string { return many(n, func(i int) string { return fmt.Sprint("news/", i) }) }
	tests := []struct {
		name   string
		call   func(context.Context) error
		code   codes.Code
		fields []string
	}{
		{"list ok", func(ctx context.Context) error {
			_, err := s.ListInbox(ctx, &heraldv1.ListInboxRequest{PageSize: 10, PageToken: "5", Archived: heraldv1.ArchiveFilter_ARCHIVE_FILTER_INCLUDE})
			return err
		}, codes.OK, nil},
		{"list bad token", func(ctx context.Context) error {
			_, err := s.ListInbox(ctx, &heraldv1.ListInboxRequest{PageToken: "abc"})
			return err
		}, codes.InvalidArgument, []string{"page_token"}},
		{"list negative size, unknown filter", func(ctx context.Context) error {
			_, err := s.ListInbox(ctx, &heraldv1.ListInboxRequest{PageSize: -1, Archived: 9})
			return err
		}, codes.InvalidArgument, []string{"page_size", "archived"}},
		{"mark ok by ids", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: ids(1000)})
			return err
		}, codes.OK, nil},
		{"mark ok up to cursor", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_SEEN, UpToCursor: "7"})
			return err
		}, codes.OK, nil},
		{"mark no action, no selection", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{})
			return err
		}, codes.InvalidArgument, []string{"action", "ids"}},
		{"mark unknown action", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: 42, UpToCursor: "1"})
			return err
		}, codes.InvalidArgument, []string{"action"}},
		{"mark both selections", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: []string{"a"}, UpToCursor: "1"})
			return err
		}, codes.InvalidArgument, []string{"up_to_cursor"}},
		{"mark too many ids", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: ids(1001)})
			return err
		}, codes.InvalidArgument, []string{"ids"}},
		{"mark empty id", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: []string{"a", ""}})
			return err
		}, codes.InvalidArgument, []string{"ids[1]"}},
		{"mark bad cursor", func(ctx context.Context) error {
			_, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_ARCHIVE, UpToCursor: "-1"})
			return err
		}, codes.InvalidArgument, []string{"up_to_cursor"}},
		{"my subscriptions bad token", func(ctx context.Context) error {
			_, err := s.ListMySubscriptions(ctx, &heraldv1.ListMySubscriptionsRequest{PageToken: "!!"})
			return err
		}, codes.InvalidArgument, []string{"page_token"}},
		{"my subscriptions token of a bad topic", func(ctx context.Context) error {
			_, err := s.ListMySubscriptions(ctx, &heraldv1.ListMySubscriptionsRequest{PageToken: "YSBi"}) // "a b"
			return err
		}, codes.InvalidArgument, []string{"page_token"}},
		{"subscribe me ok", func(ctx context.Context) error {
			_, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: topics(100)})
			return err
		}, codes.OK, nil},
		{"subscribe me none", func(ctx context.Context) error {
			_, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{})
			return err
		}, codes.InvalidArgument, []string{"topics"}},
		{"subscribe me too many", func(ctx context.Context) error {
			_, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: topics(101)})
			return err
		}, codes.InvalidArgument, []string{"topics"}},
		{"subscribe me bad names", func(ctx context.Context) error {
			_, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: []string{"news/a", "news a", long, "nouvelles/é"}})
			return err
		}, codes.InvalidArgument, []string{"topics[1]", "topics[2]", "topics[3]"}},
		{"unsubscribe me bad name", func(ctx context.Context) error {
			_, err := s.UnsubscribeMe(ctx, &heraldv1.UnsubscribeMeRequest{Topics: []string{""}})
			return err
		}, codes.InvalidArgument, []string{"topics[0]"}},
		{"preferences ok", func(ctx context.Context) error {
			_, err := s.UpdatePreferences(ctx, &heraldv1.UpdatePreferencesRequest{MuteTopics: []string{"a"}, UnmuteTopics: []string{"b"}, MuteCategories: []string{"promo"}, UnmuteCategories: []string{"billing:eu"}})
			return err
		}, codes.OK, nil},
		{"preferences bad names", func(ctx context.Context) error {
			_, err := s.UpdatePreferences(ctx, &heraldv1.UpdatePreferencesRequest{MuteTopics: []string{"a b"}, UnmuteCategories: []string{"a/b"}, MuteCategories: []string{strings.Repeat("c", 65)}})
			return err
		}, codes.InvalidArgument, []string{"mute_topics[0]", "mute_categories[0]", "unmute_categories[0]"}},
		{"preferences in both lists", func(ctx context.Context) error {
			_, err := s.UpdatePreferences(ctx, &heraldv1.UpdatePreferencesRequest{MuteTopics: []string{"a", "b"}, UnmuteTopics: []string{"b"}, MuteCategories: []string{"x"}, UnmuteCategories: []string{"x"}})
			return err
		}, codes.InvalidArgument, []string{"unmute_topics", "unmute_categories"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(as("alice"))
			if status.Code(err) != tt.code {
				t.Fatalf("err = %v, want %v", err, tt.code)
			}
			if got := fields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("field violations = %q, want %q", got, tt.fields)
			}
		})
	}
}

func TestInboxRequiresUser(t *testing.T) {
	t.Parallel()
	s, st, _ := newInbox(t)
	ctx := auth.WithService(context.Background(), "billing") // a service is not a user
	calls := map[string]func() error{
		"ListInbox":           func() error { _, err := s.ListInbox(ctx, &heraldv1.ListInboxRequest{}); return err },
		"MarkInbox":           func() error { _, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{}); return err },
		"GetInboxCounts":      func() error { _, err := s.GetInboxCounts(ctx, &heraldv1.GetInboxCountsRequest{}); return err },
		"ListMySubscriptions": func() error { _, err := s.ListMySubscriptions(ctx, &heraldv1.ListMySubscriptionsRequest{}); return err },
		"SubscribeMe":         func() error { _, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{}); return err },
		"UnsubscribeMe":       func() error { _, err := s.UnsubscribeMe(ctx, &heraldv1.UnsubscribeMeRequest{}); return err },
		"GetPreferences":      func() error { _, err := s.GetPreferences(ctx, &heraldv1.GetPreferencesRequest{}); return err },
		"UpdatePreferences":   func() error { _, err := s.UpdatePreferences(ctx, &heraldv1.UpdatePreferencesRequest{}); return err },
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without user: err = %v, want Unauthenticated", name, err)
		}
	}
	if u := st.calledWith(); len(u) > 0 {
		t.Errorf("store called for %q without a user", u)
	}
}

// TestInboxIsolation runs every method as alice and as bob over one store:
// each sees and changes only their own data, and the store is only ever
// asked about the caller.
func TestInboxIsolation(t *testing.T) {
	t.Parallel()
	s, st, pub := newInbox(t)
	for i := range 3 {
		st.add("alice", fmt.Sprint("a", i))
		st.add("bob", fmt.Sprint("b", i))
	}
	st.add("bob", "shared") // an ID alice may try to mark
	st.add("alice", "shared")
	_, _ = st.Subscribe(context.Background(), []notify.Topic{"news/bob"}, []notify.UserID{"bob"})
	_, _ = st.UpdatePreferences(context.Background(), "bob", store.PreferenceChange{MuteTopics: []notify.Topic{"secret"}})
	st.calledWith()

	for _, user := range []notify.UserID{"alice", "bob"} {
		ctx := as(user)
		prefix := string(user[:1])
		check := func(method string) {
			t.Helper()
			for _, u := range st.calledWith() {
				if u != user {
					t.Errorf("%s as %s: store called for %s", method, user, u)
				}
			}
		}

		list, err := s.ListInbox(ctx, &heraldv1.ListInboxRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.GetEntries() {
			if id := e.GetEvent().GetId(); id != "shared" && !strings.HasPrefix(id, prefix) {
				t.Errorf("ListInbox as %s returned %s", user, id)
			}
		}
		check("ListInbox")

		m, err := s.MarkInbox(ctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: []string{"shared", "a0", "b0"}})
		if err != nil {
			t.Fatal(err)
		}
		if m.GetChanged() != 2 {
			t.Errorf("MarkInbox as %s changed %d, want 2 (its own shared and %s0)", user, m.GetChanged(), prefix)
		}
		check("MarkInbox")
		if es := pub.take(); len(es) != 1 || es[0].User != user || es[0].Counts == nil || es[0].Counts.Unread != 2 {
			t.Errorf("published %+v, want one read event for %s with 2 unread", es, user)
		}

		if _, err := s.GetInboxCounts(ctx, &heraldv1.GetInboxCountsRequest{}); err != nil {
			t.Fatal(err)
		}
		check("GetInboxCounts")
		if _, err := s.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: []string{"news/" + string(user)}}); err != nil {
			t.Fatal(err)
		}
		check("SubscribeMe")
		topics, err := s.ListMySubscriptions(ctx, &heraldv1.ListMySubscriptionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"news/" + string(user)}; !slices.Equal(topics.GetTopics(), want) {
			t.Errorf("ListMySubscriptions as %s = %q, want %q", user, topics.GetTopics(), want)
		}
		check("ListMySubscriptions")
		if _, err := s.UnsubscribeMe(ctx, &heraldv1.UnsubscribeMeRequest{Topics: []string{"news/bob", "news/alice"}}); err != nil {
			t.Fatal(err)
		}
		check("UnsubscribeMe")
		prefs, err := s.GetPreferences(ctx, &heraldv1.GetPreferencesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if user == "alice" && len(prefs.GetPreferences().GetMutedTopics()) > 0 {
			t.Errorf("GetPreferences as alice = %v, bob's", prefs)
		}
		check("GetPreferences")
		if _, err := s.UpdatePreferences(ctx, &heraldv1.UpdatePreferencesRequest{MuteCategories: []string{string(user)}}); err != nil {
			t.Fatal(err)
		}
		check("UpdatePreferences")
	}
	// bob's data is as alice left it: untouched.
	c, _ := st.Counts(context.Background(), "bob")
	if c.Unread != 2 {
		t.Errorf("bob unread = %d, want 2", c.Unread)
	}
	if p := st.prefs["bob"]; !slices.Equal(p.MutedCategories, []string{"bob"}) || len(p.MutedTopics) != 1 {
		t.Errorf("bob's preferences = %+v", p)
	}
}

func TestListInboxMapping(t *testing.T) {
	t.Parallel()
	s, st, _ := newInbox(t)
	for i := range 5 {
		st.add("alice", fmt.Sprint("n", i))
	}
	st.inbox["alice"][4].Seen = true
	st.inbox["alice"][3].Archived = true
	resp, err := s.ListInbox(as("alice"), &heraldv1.ListInboxRequest{PageSize: 2, UnreadOnly: true, Archived: heraldv1.ArchiveFilter_ARCHIVE_FILTER_ONLY})
	if err != nil {
		t.Fatal(err)
	}
	if q := st.lastQuery; q.Limit != 2 || !q.UnreadOnly || q.Archived != store.ArchiveOnly || q.Before != 0 {
		t.Errorf("query = %+v", q)
	}
	es := resp.GetEntries()
	if len(es) != 2 || es[0].GetEvent().GetId() != "n4" || es[0].GetEvent().GetCursor() != "5" || !es[0].GetSeen() || !es[1].GetArchived() {
		t.Errorf("entries = %v", es)
	}
	if resp.GetNextPageToken() != "4" || resp.GetStreamCursor() != "5" || resp.GetCounts().GetUnread() != 4 || resp.GetCounts().GetUnseen() != 3 {
		t.Errorf("response = %v", resp)
	}
	resp, err = s.ListInbox(as("alice"), &heraldv1.ListInboxRequest{PageToken: "2", PageSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	if st.lastQuery.Limit != 200 || st.lastQuery.Before != 2 || len(resp.GetEntries()) != 1 || resp.GetNextPageToken() != "" {
		t.Errorf("last page: query %+v, response %v", st.lastQuery, resp)
	}
	// An empty inbox still gives a cursor to stream from.
	resp, err = s.ListInbox(as("nobody"), &heraldv1.ListInboxRequest{})
	if err != nil || resp.GetStreamCursor() != "0" || st.lastQuery.Limit != 50 {
		t.Errorf("empty inbox: %v, %v (limit %d)", resp, err, st.lastQuery.Limit)
	}
}

func TestMarkInboxPublishesOnlyChanges(t *testing.T) {
	t.Parallel()
	s, st, pub := newInbox(t)
	st.add("alice", "a")
	read := &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, UpToCursor: "1"}
	resp, err := s.MarkInbox(as("alice"), read)
	if err != nil || resp.GetChanged() != 1 || resp.GetCounts().GetUnread() != 0 {
		t.Fatalf("MarkInbox = %v, %v", resp, err)
	}
	if st.lastMark.Action != store.MarkRead || st.lastMark.UpTo != 1 || st.lastMark.IDs != nil {
		t.Errorf("mark = %+v", st.lastMark)
	}
	if es := pub.take(); len(es) != 1 || es[0].Cursor != 0 || es[0].Notification != nil || *es[0].Counts != (notify.Counts{}) {
		t.Errorf("published %+v", es)
	}
	// Nothing changed: nothing to tell the other devices.
	if resp, err := s.MarkInbox(as("alice"), read); err != nil || resp.GetChanged() != 0 {
		t.Fatalf("second MarkInbox = %v, %v", resp, err)
	}
	if es := pub.take(); len(es) != 0 {
		t.Errorf("published %+v after a no-op", es)
	}
	// No publisher configured: still works.
	s2 := rpc.NewInboxServer(rpc.InboxConfig{Store: st})
	if _, err := s2.MarkInbox(as("alice"), &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_UNREAD, Ids: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribeMePatterns(t *testing.T) {
	t.Parallel()
	s, st, _ := newInbox(t)
	resp, err := s.SubscribeMe(as("alice"), &heraldv1.SubscribeMeRequest{Topics: []string{"news/eu", "team:payments", "news/eu"}})
	if err != nil || resp.GetAdded() != 2 {
		t.Fatalf("SubscribeMe = %v, %v", resp, err)
	}
	_, err = s.SubscribeMe(as("alice"), &heraldv1.SubscribeMeRequest{Topics: []string{"news/eu", "news/eu/deep", "admin:all"}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want PermissionDenied", err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, "news/eu/deep") || !strings.Contains(msg, "admin:all") || strings.Contains(msg, "news/eu,") {
		t.Errorf("message %q should name the refused topics only", msg)
	}
	if st.subs["admin:all"] != nil {
		t.Error("a refused request subscribed something")
	}
	// No patterns: users cannot subscribe themselves at all.
	none := rpc.NewInboxServer(rpc.InboxConfig{Store: st})
	if _, err := none.SubscribeMe(as("alice"), &heraldv1.SubscribeMeRequest{Topics: []string{"news/eu"}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("without patterns: err = %v, want PermissionDenied", err)
	}
	// Leaving is always allowed.
	if resp, err := none.UnsubscribeMe(as("alice"), &heraldv1.UnsubscribeMeRequest{Topics: []string{"news/eu"}}); err != nil || resp.GetRemoved() != 1 {
		t.Errorf("UnsubscribeMe = %v, %v", resp, err)
	}
}

func TestInboxStoreErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("store: %w", notify.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("store: %w", notify.ErrClosed), codes.Unavailable},
		{fmt.Errorf("store: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{errors.New("pebble: corruption in /var/lib/secret"), codes.Internal},
	}
	for _, tt := range tests {
		s, st, _ := newInbox(t)
		st.err = tt.err
		_, err := s.GetInboxCounts(as("alice"), &heraldv1.GetInboxCountsRequest{})
		if status.Code(err) != tt.code || strings.Contains(err.Error(), "secret") {
			t.Errorf("store error %v: err = %v, want %v without internals", tt.err, err, tt.code)
		}
		_, err = s.ListInbox(as("alice"), &heraldv1.ListInboxRequest{})
		if status.Code(err) != tt.code {
			t.Errorf("ListInbox with store error %v: err = %v, want %v", tt.err, err, tt.code)
		}
	}
}
