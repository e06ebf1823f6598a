package main_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// restEntry is an inbox entry as REST returns it.
type restEntry struct {
	Event struct {
		ID     string `json:"id"`
		Cursor string `json:"cursor"`
	} `json:"event"`
	Seen     bool `json:"seen"`
	Read     bool `json:"read"`
	Archived bool `json:"archived"`
}

type restCounts struct {
	Unread int `json:"unread"`
	Unseen int `json:"unseen"`
}

type restList struct {
	Entries       []restEntry `json:"entries"`
	NextPageToken string      `json:"next_page_token"`
	StreamCursor  string      `json:"stream_cursor"`
	Counts        restCounts  `json:"counts"`
}

// notifyMany sends n notifications to user in batches and returns their IDs
// in the order sent.
func notifyMany(t *testing.T, s *server, user string, n int) []string {
	t.Helper()
	nc := s.notifyClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var ids []string
	for len(ids) < n {
		var batch []*heraldv1.Notification
		for i := len(ids); i < n && len(batch) < 100; i++ {
			batch = append(batch, &heraldv1.Notification{
				Audience: &heraldv1.Audience{UserIds: []string{user}},
				Title:    fmt.Sprintf("%s %d", user, i),
			})
		}
		r, err := nc.NotifyBatch(withKey(ctx), &heraldv1.NotifyBatchRequest{Notifications: batch})
		if err != nil {
			t.Fatalf("NotifyBatch: %v", err)
		}
		for _, res := range r.GetResults() {
			ids = append(ids, res.GetId())
		}
	}
	return ids
}

// entryState is the test's model of one entry.
type entryState struct{ seen, read, archived bool }

type model map[string]*entryState

func (m model) counts() restCounts {
	var c restCounts
	for _, e := range m {
		if e.archived {
			continue
		}
		if !e.read {
			c.Unread++
		}
		if !e.seen {
			c.Unseen++
		}
	}
	return c
}

// Acceptance 2: the inbox through REST and gRPC. Paging over 250 entries
// returns each exactly once while new ones arrive; read, unread and archive
// change the counts, which are right after each step.
func TestInboxPagingAndMarks(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	const user = "alice"
	ids := notifyMany(t, s, user, 250)
	m := model{}
	for _, id := range ids {
		m[id] = &entryState{}
	}
	ic := s.inboxClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	uctx := asUser(t, ctx, user)

	// REST, 40 a page, with a new notification arriving before each next
	// page: the listing stays below its first page and shows each once.
	var got []string
	var first restList
	var arrived []string
	for tokenParam, page := "", 0; ; page++ {
		var l restList
		path := "/v1/inbox?page_size=40"
		if tokenParam != "" {
			path += "&page_token=" + url.QueryEscape(tokenParam)
		}
		if code, b := restCall(t, s, http.MethodGet, path, bearerFor(t, user), nil, &l); code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if page == 0 {
			first = l
		}
		for i, e := range l.Entries {
			got = append(got, e.Event.ID)
			if i > 0 || page > 0 {
				prev := l.Entries[max(i-1, 0)].Event.Cursor
				if i == 0 {
					prev = tokenParam
				}
				if cursorOf(t, e.Event.Cursor) >= cursorOf(t, prev) {
					t.Fatalf("page %d: cursor %s not below %s", page, e.Event.Cursor, prev)
				}
			}
		}
		if tokenParam = l.NextPageToken; tokenParam == "" {
			break
		}
		arrived = append(arrived, notifyMany(t, s, user, 1)...)
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Fatalf("REST paging returned %d entries, want the 250 sent, newest first, each once", len(got))
	}
	if first.Counts.Unread != 250 || first.Counts.Unseen != 250 {
		t.Errorf("first page counts = %+v, want 250/250", first.Counts)
	}
	for _, id := range arrived {
		m[id] = &entryState{}
	}

	// gRPC, 60 a page, while more arrive: everything there was at the
	// first page, each once.
	var grpcGot []string
	var firstCursor string
	total := len(m)
	for pageToken := ""; ; {
		l, err := ic.ListInbox(uctx, &heraldv1.ListInboxRequest{PageSize: 60, PageToken: pageToken})
		if err != nil {
			t.Fatalf("ListInbox: %v", err)
		}
		if firstCursor == "" {
			firstCursor = l.GetStreamCursor()
		}
		for _, e := range l.GetEntries() {
			grpcGot = append(grpcGot, e.GetEvent().GetId())
		}
		if pageToken = l.GetNextPageToken(); pageToken == "" {
			break
		}
		for _, id := range notifyMany(t, s, user, 1) {
			m[id] = &entryState{}
		}
	}
	if len(grpcGot) != total || len(uniq(grpcGot)) != total {
		t.Fatalf("gRPC paging returned %d entries (%d distinct), want %d", len(grpcGot), len(uniq(grpcGot)), total)
	}
	for _, id := range grpcGot {
		if m[id] == nil {
			t.Fatalf("gRPC paging returned unknown entry %s", id)
		}
	}

	checkCounts := func(step string) {
		t.Helper()
		want := m.counts()
		var rc restCounts
		var out struct {
			Counts *restCounts `json:"counts"`
		}
		out.Counts = &rc
		if code, b := restCall(t, s, http.MethodGet, "/v1/inbox/counts", bearerFor(t, user), nil, &out); code != http.StatusOK {
			t.Fatalf("%s: GET counts: %d %s", step, code, b)
		}
		if rc != want {
			t.Errorf("%s: REST counts = %+v, want %+v", step, rc, want)
		}
		gc, err := ic.GetInboxCounts(uctx, &heraldv1.GetInboxCountsRequest{})
		if err != nil {
			t.Fatalf("%s: GetInboxCounts: %v", step, err)
		}
		if g := (restCounts{int(gc.GetCounts().GetUnread()), int(gc.GetCounts().GetUnseen())}); g != want {
			t.Errorf("%s: gRPC counts = %+v, want %+v", step, g, want)
		}
	}
	checkCounts("start")

	// Seen up to the first listing's stream cursor (REST): the badge of
	// everything listed clears; what arrived later stays unseen.
	var mr struct {
		Changed int        `json:"changed"`
		Counts  restCounts `json:"counts"`
	}
	if code, b := restCall(t, s, http.MethodPost, "/v1/inbox:mark", bearerFor(t, user),
		map[string]any{"action": "MARK_ACTION_SEEN", "up_to_cursor": first.StreamCursor}, &mr); code != http.StatusOK {
		t.Fatalf("mark seen: %d %s", code, b)
	}
	for _, id := range ids {
		m[id].seen = true
	}
	if mr.Changed != 250 || mr.Counts != m.counts() {
		t.Errorf("mark seen = %+v, want 250 changed and %+v", mr, m.counts())
	}
	checkCounts("seen")

	// Read 10 by ID (gRPC), one of them twice and one unknown.
	readIDs := append(slices.Clone(ids[100:110]), ids[100], "no-such-id")
	r, err := ic.MarkInbox(uctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, Ids: readIDs})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[100:110] {
		m[id].read = true
	}
	if r.GetChanged() != 10 || int(r.GetCounts().GetUnread()) != m.counts().Unread {
		t.Errorf("mark read = %v, want 10 changed, %d unread", r, m.counts().Unread)
	}
	checkCounts("read")

	// Unread 5 of them (REST).
	if code, b := restCall(t, s, http.MethodPost, "/v1/inbox:mark", bearerFor(t, user),
		map[string]any{"action": "MARK_ACTION_UNREAD", "ids": ids[105:115]}, &mr); code != http.StatusOK {
		t.Fatalf("mark unread: %d %s", code, b)
	}
	for _, id := range ids[105:115] {
		m[id].read = false
	}
	if mr.Changed != 5 {
		t.Errorf("mark unread changed %d, want 5 (only the read ones)", mr.Changed)
	}
	checkCounts("unread")

	// Archive 20 (gRPC): they leave the default listing and the counts.
	if _, err := ic.MarkInbox(uctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_ARCHIVE, Ids: ids[95:115]}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[95:115] {
		m[id].archived = true
	}
	checkCounts("archive")
	arch, err := ic.ListInbox(uctx, &heraldv1.ListInboxRequest{PageSize: 200, Archived: heraldv1.ArchiveFilter_ARCHIVE_FILTER_ONLY})
	if err != nil {
		t.Fatal(err)
	}
	if len(arch.GetEntries()) != 20 {
		t.Errorf("archived listing has %d entries, want 20", len(arch.GetEntries()))
	}
	for _, e := range arch.GetEntries() {
		st := m[e.GetEvent().GetId()]
		if st == nil || !e.GetArchived() || e.GetRead() != st.read || !e.GetSeen() {
			t.Errorf("archived entry %v, model %+v", e, st)
		}
	}
	var l restList
	if code, b := restCall(t, s, http.MethodGet, "/v1/inbox?page_size=200&unread_only=true", bearerFor(t, user), nil, &l); code != http.StatusOK {
		t.Fatalf("unread listing: %d %s", code, b)
	}
	for _, e := range l.Entries {
		if e.Read || e.Archived {
			t.Errorf("unread listing holds %+v", e)
		}
	}

	// Unarchive them again (REST).
	if code, b := restCall(t, s, http.MethodPost, "/v1/inbox:mark", bearerFor(t, user),
		map[string]any{"action": "MARK_ACTION_UNARCHIVE", "ids": ids[95:115]}, &mr); code != http.StatusOK {
		t.Fatalf("unarchive: %d %s", code, b)
	}
	for _, id := range ids[95:115] {
		m[id].archived = false
	}
	if mr.Changed != 20 {
		t.Errorf("unarchive changed %d, want 20", mr.Changed)
	}
	checkCounts("unarchive")

	// Read everything up to the newest cursor.
	last, err := ic.ListInbox(uctx, &heraldv1.ListInboxRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.MarkInbox(uctx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_READ, UpToCursor: last.GetStreamCursor()}); err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		e.read, e.seen = true, true
	}
	checkCounts("read all")
	if c := m.counts(); c.Unread != 0 || c.Unseen != 0 {
		t.Errorf("model counts after read all = %+v", c)
	}
}

func cursorOf(t *testing.T, s string) uint64 {
	t.Helper()
	c, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("cursor %q: %v", s, err)
	}
	return c
}

func uniq(xs []string) []string {
	c := slices.Clone(xs)
	slices.Sort(c)
	return slices.Compact(c)
}

// Acceptance 4: user A cannot list, mark, count, subscribe, change
// preferences or stream for B through any parameter, header or metadata,
// over REST or gRPC. InboxService requests carry no user field; whatever
// else names B is ignored or refused.
func TestInboxIsolation(t *testing.T) {
	t.Parallel()
	s := startServer(t, withArgs("--self-subscribe-topics=news/*"))
	aliceIDs := notifyMany(t, s, "alice", 3)
	bobIDs := notifyMany(t, s, "bob", 5)
	ic := s.inboxClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Bob's topics and preferences, set by a service and by bob.
	subs := heraldv1.NewSubscriptionServiceClient(grpcConn(t, s.GRPCAddr))
	if _, err := subs.Subscribe(withKey(ctx), &heraldv1.SubscribeRequest{Topics: []string{"news/bob", "team:bob"}, UserIds: []string{"bob"}}); err != nil {
		t.Fatalf("Subscribe bob: %v", err)
	}
	if _, err := ic.UpdatePreferences(asUser(t, ctx, "bob"), &heraldv1.UpdatePreferencesRequest{MuteCategories: []string{"bob-only"}}); err != nil {
		t.Fatalf("bob's preferences: %v", err)
	}

	// Everything that names bob besides alice's token.
	spoof := map[string]string{
		"Authorization":               "Bearer " + token(t, "alice"),
		"X-User-Id":                   "bob",
		"Grpc-Metadata-X-User-Id":     "bob",
		"Grpc-Metadata-User-Id":       "bob",
		"Grpc-Metadata-Authorization": "Bearer " + token(t, "bob"),
	}
	const q = "user_id=bob&userId=bob&user=bob&sub=bob"
	actx := metadata.AppendToOutgoingContext(asUser(t, ctx, "alice"), "x-user-id", "bob", "user_id", "bob", "user", "bob")

	bobState := func(step string) {
		t.Helper()
		bctx := asUser(t, ctx, "bob")
		c, err := ic.GetInboxCounts(bctx, &heraldv1.GetInboxCountsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if c.GetCounts().GetUnread() != 5 || c.GetCounts().GetUnseen() != 5 {
			t.Errorf("%s: bob's counts changed: %v", step, c)
		}
		ts, err := ic.ListMySubscriptions(bctx, &heraldv1.ListMySubscriptionsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ts.GetTopics(), []string{"news/bob", "team:bob"}) {
			t.Errorf("%s: bob's topics = %q", step, ts.GetTopics())
		}
		p, err := ic.GetPreferences(bctx, &heraldv1.GetPreferencesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.GetPreferences().GetMutedCategories(), []string{"bob-only"}) || len(p.GetPreferences().GetMutedTopics()) != 0 {
			t.Errorf("%s: bob's preferences = %v", step, p)
		}
	}
	onlyAlice := func(method string, got []string) {
		t.Helper()
		for _, id := range got {
			if slices.Contains(bobIDs, id) {
				t.Errorf("%s as alice returned bob's entry %s", method, id)
			}
		}
	}

	t.Run("ListInbox", func(t *testing.T) {
		var l restList
		if code, b := restCall(t, s, http.MethodGet, "/v1/inbox?"+q, spoof, nil, &l); code != http.StatusOK {
			t.Fatalf("REST: %d %s", code, b)
		}
		var got []string
		for _, e := range l.Entries {
			got = append(got, e.Event.ID)
		}
		onlyAlice("REST ListInbox", got)
		if len(got) != 3 || l.Counts.Unread != 3 {
			t.Errorf("REST ListInbox = %d entries, counts %+v; want alice's 3", len(got), l.Counts)
		}
		gl, err := ic.ListInbox(actx, &heraldv1.ListInboxRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range gl.GetEntries() {
			got = append(got, e.GetEvent().GetId())
		}
		onlyAlice("gRPC ListInbox", got)
		if len(got) != 3 {
			t.Errorf("gRPC ListInbox = %d entries, want 3", len(got))
		}
		// Bob's page token (a cursor) gives alice her own entries below it.
		bl, err := ic.ListInbox(asUser(t, ctx, "bob"), &heraldv1.ListInboxRequest{PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		gl, err = ic.ListInbox(actx, &heraldv1.ListInboxRequest{PageToken: bl.GetNextPageToken()})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range gl.GetEntries() {
			got = append(got, e.GetEvent().GetId())
		}
		onlyAlice("gRPC ListInbox with bob's page token", got)
	})

	t.Run("MarkInbox", func(t *testing.T) {
		var mr struct {
			Changed int `json:"changed"`
		}
		if code, b := restCall(t, s, http.MethodPost, "/v1/inbox:mark?"+q, spoof,
			map[string]any{"action": "MARK_ACTION_READ", "ids": bobIDs}, &mr); code != http.StatusOK || mr.Changed != 0 {
			t.Errorf("REST mark of bob's IDs: %d %s, changed %d; want 200 and 0", code, b, mr.Changed)
		}
		// A user field in the body is no field of the request: refused.
		if code, _ := restCall(t, s, http.MethodPost, "/v1/inbox:mark", spoof,
			map[string]any{"action": "MARK_ACTION_READ", "up_to_cursor": "1000", "user_id": "bob"}, nil); code != http.StatusBadRequest {
			t.Errorf("REST mark with user_id in the body: %d, want 400", code)
		}
		r, err := ic.MarkInbox(actx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_ARCHIVE, Ids: bobIDs})
		if err != nil || r.GetChanged() != 0 {
			t.Errorf("gRPC mark of bob's IDs: %v, %v; want 0 changed", r, err)
		}
		// Up to a cursor beyond alice's own: only alice's entries change.
		r, err = ic.MarkInbox(actx, &heraldv1.MarkInboxRequest{Action: heraldv1.MarkAction_MARK_ACTION_SEEN, UpToCursor: "1000000"})
		if err != nil || r.GetChanged() != 3 {
			t.Errorf("gRPC mark up to a large cursor: %v, %v; want alice's 3 changed", r, err)
		}
		bobState("MarkInbox")
	})

	t.Run("GetInboxCounts", func(t *testing.T) {
		var out struct {
			Counts restCounts `json:"counts"`
		}
		if code, b := restCall(t, s, http.MethodGet, "/v1/inbox/counts?"+q, spoof, nil, &out); code != http.StatusOK || out.Counts.Unread != 3 {
			t.Errorf("REST counts: %d %s; want alice's 3 unread", code, b)
		}
		c, err := ic.GetInboxCounts(actx, &heraldv1.GetInboxCountsRequest{})
		if err != nil || c.GetCounts().GetUnread() != 3 {
			t.Errorf("gRPC counts: %v, %v; want alice's 3 unread", c, err)
		}
	})

	t.Run("subscriptions", func(t *testing.T) {
		var l struct {
			Topics []string `json:"topics"`
		}
		if code, b := restCall(t, s, http.MethodGet, "/v1/me/subscriptions?"+q, spoof, nil, &l); code != http.StatusOK || len(l.Topics) != 0 {
			t.Errorf("REST my subscriptions: %d %s; want none", code, b)
		}
		if code, b := restCall(t, s, http.MethodPost, "/v1/me/subscriptions:subscribe?"+q, spoof,
			map[string]any{"topics": []string{"news/alice"}}, nil); code != http.StatusOK {
			t.Errorf("REST subscribe me: %d %s", code, b)
		}
		if code, _ := restCall(t, s, http.MethodPost, "/v1/me/subscriptions:subscribe", spoof,
			map[string]any{"topics": []string{"news/x"}, "user_ids": []string{"bob"}}, nil); code != http.StatusBadRequest {
			t.Errorf("REST subscribe me with user_ids in the body: %d, want 400", code)
		}
		if _, err := ic.SubscribeMe(actx, &heraldv1.SubscribeMeRequest{Topics: []string{"news/alice2"}}); err != nil {
			t.Errorf("gRPC subscribe me: %v", err)
		}
		if _, err := ic.SubscribeMe(actx, &heraldv1.SubscribeMeRequest{Topics: []string{"team:bob"}}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("gRPC subscribe me to a closed topic: %v, want PermissionDenied", err)
		}
		ts, err := ic.ListMySubscriptions(actx, &heraldv1.ListMySubscriptionsRequest{})
		if err != nil || !slices.Equal(ts.GetTopics(), []string{"news/alice", "news/alice2"}) {
			t.Errorf("gRPC my subscriptions = %v, %v; want alice's two", ts, err)
		}
		var un struct {
			Removed int `json:"removed"`
		}
		if code, b := restCall(t, s, http.MethodPost, "/v1/me/subscriptions:unsubscribe?"+q, spoof,
			map[string]any{"topics": []string{"news/bob", "team:bob"}}, &un); code != http.StatusOK || un.Removed != 0 {
			t.Errorf("REST unsubscribe me from bob's topics: %d %s", code, b)
		}
		if r, err := ic.UnsubscribeMe(actx, &heraldv1.UnsubscribeMeRequest{Topics: []string{"news/bob", "news/alice2"}}); err != nil || r.GetRemoved() != 1 {
			t.Errorf("gRPC unsubscribe me: %v, %v; want alice's 1 removed", r, err)
		}
		bobState("subscriptions")
	})

	t.Run("preferences", func(t *testing.T) {
		var p struct {
			Preferences struct {
				MutedCategories []string `json:"muted_categories"`
			} `json:"preferences"`
		}
		if code, b := restCall(t, s, http.MethodGet, "/v1/me/preferences?"+q, spoof, nil, &p); code != http.StatusOK || len(p.Preferences.MutedCategories) != 0 {
			t.Errorf("REST preferences: %d %s; want alice's empty ones", code, b)
		}
		if code, b := restCall(t, s, http.MethodPatch, "/v1/me/preferences?"+q, spoof,
			map[string]any{"mute_categories": []string{"promo"}, "unmute_categories": []string{"bob-only"}}, &p); code != http.StatusOK ||
			!slices.Equal(p.Preferences.MutedCategories, []string{"promo"}) {
			t.Errorf("REST update preferences: %d %s", code, b)
		}
		gp, err := ic.GetPreferences(actx, &heraldv1.GetPreferencesRequest{})
		if err != nil || !slices.Equal(gp.GetPreferences().GetMutedCategories(), []string{"promo"}) {
			t.Errorf("gRPC preferences = %v, %v; want alice's", gp, err)
		}
		if _, err := ic.UpdatePreferences(actx, &heraldv1.UpdatePreferencesRequest{UnmuteCategories: []string{"bob-only"}, MuteTopics: []string{"news/bob"}}); err != nil {
			t.Errorf("gRPC update preferences: %v", err)
		}
		bobState("preferences")
	})

	t.Run("Stream", func(t *testing.T) {
		st, err := ic.Stream(actx, &heraldv1.StreamRequest{Cursor: "0"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range 3 {
			m, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.GetEvent().GetId())
		}
		if !slices.Equal(got, aliceIDs) {
			t.Errorf("replay = %q, want alice's %q", got, aliceIDs)
		}
		notifyMany(t, s, "bob", 1)
		next := notifyMany(t, s, "alice", 1)
		m, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetEvent().GetId() != next[0] {
			t.Errorf("live event %v, want alice's %s (bob's must not arrive)", m, next[0])
		}
	})

	t.Run("no user credential", func(t *testing.T) {
		key := map[string]string{"X-Api-Key": testAPIKey, "X-User-Id": "bob"}
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/v1/inbox?user_id=bob"},
			{http.MethodPost, "/v1/inbox:mark"},
			{http.MethodGet, "/v1/inbox/counts?user_id=bob"},
			{http.MethodGet, "/v1/me/subscriptions?user_id=bob"},
			{http.MethodPost, "/v1/me/subscriptions:subscribe"},
			{http.MethodPost, "/v1/me/subscriptions:unsubscribe"},
			{http.MethodGet, "/v1/me/preferences?user_id=bob"},
			{http.MethodPatch, "/v1/me/preferences"},
		} {
			var body any
			if r.method != http.MethodGet {
				body = map[string]any{}
			}
			if code, b := restCall(t, s, r.method, r.path, key, body, nil); code != http.StatusUnauthorized {
				t.Errorf("%s %s with an API key only: %d %s, want 401", r.method, r.path, code, b)
			}
		}
		mctx := metadata.AppendToOutgoingContext(ctx, "x-user-id", "bob", "x-api-key", testAPIKey)
		if _, err := ic.ListInbox(mctx, &heraldv1.ListInboxRequest{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC ListInbox without token: %v", err)
		}
		st, err := ic.Stream(mctx, &heraldv1.StreamRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("gRPC Stream without token: %v", err)
		}
	})
}
