package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// TestIsolationProperty is a randomized property test of per-user
// isolation, on top of TestInboxIsolation's fixed cases. Random users run a
// random sequence of inbox calls (list with random filters and pages, marks
// by IDs drawn from every user's notifications or up to a random cursor,
// counts, subscriptions, preferences) while notifications to single users
// (naming their recipient in title, body and data) and to topics arrive;
// each user has a gRPC and an SSE stream open throughout. The properties:
// no response, stream event or error message carries another user's ID or
// notification, and what each user sees (inbox, flags, counts,
// subscriptions, preferences, streams) matches a model of the calls.
//
// HERALD_ISOLATION_SEED replays a failing run; the seed is logged.
func TestIsolationProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HERALD_ISOLATION_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HERALD_ISOLATION_SEED: %v", err)
		}
		seed = v
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with HERALD_ISOLATION_SEED=%d", seed)
		}
	})
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	s := startServer(t, withArgs("--self-subscribe-topics=iso/*"))
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	m := newIsoModel(rng)
	ic := s.inboxClient(t)
	nc := s.notifyClient(t)

	// Streams first: everything after them arrives live.
	var readers sync.WaitGroup
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer func() { stopStreams(); readers.Wait() }()
	for _, u := range m.users {
		st, err := ic.Stream(asUser(t, streamCtx, u), &heraldv1.StreamRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Header(); err != nil {
			t.Fatalf("stream headers of %s: %v", u, err)
		}
		sse := s.streamFor(t, u, "")
		readers.Go(func() { m.readGRPC(u, st) })
		readers.Go(func() { m.readSSE(streamCtx, u, sse) })
	}

	const steps = 1000
	for step := range steps {
		u := m.users[rng.IntN(len(m.users))]
		actx := asUser(t, ctx, u)
		where := fmt.Sprintf("step %d (%s)", step, u)
		switch op := rng.IntN(100); {
		case op < 22:
			m.notifyDirect(ctx, t, nc, u, where)
		case op < 32:
			m.notifyTopic(ctx, t, nc, where)
		case op < 47:
			m.list(actx, t, ic, u, where)
		case op < 62:
			m.mark(actx, t, ic, u, where)
		case op < 70:
			r, err := ic.GetInboxCounts(actx, &heraldv1.GetInboxCountsRequest{})
			m.seen(t, u, where+" GetInboxCounts", r, err)
			if err == nil {
				m.checkCounts(t, u, where+" GetInboxCounts", r.GetCounts())
			}
		case op < 82:
			m.subscriptions(actx, t, ic, u, where)
		default:
			m.preferences(actx, t, ic, u, where)
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// Every stream catches up with its user's notifications, and has
	// nothing else.
	waitFor(t, 20*time.Second, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, u := range m.users {
			if len(m.grpcGot[u]) < len(m.inbox[u]) || len(m.sseGot[u]) < len(m.inbox[u]) {
				return false
			}
		}
		return true
	}, func() string { return "streams did not receive every notification" })
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.users {
		want := make([]string, len(m.inbox[u]))
		for i, e := range m.inbox[u] {
			want[i] = e.id
		}
		if !slices.Equal(m.grpcGot[u], want) {
			t.Errorf("gRPC stream of %s = %q, want %q", u, m.grpcGot[u], want)
		}
		if !slices.Equal(m.sseGot[u], want) {
			t.Errorf("SSE stream of %s = %q, want %q", u, m.sseGot[u], want)
		}
	}
	for _, e := range m.streamErrs {
		t.Error(e)
	}
	t.Logf("%d steps over %d users: %d notifications, %d inbox entries", steps, len(m.users), len(m.owner), m.entries())
}

// isoEntry is one entry of the model's inbox of a user.
type isoEntry struct {
	id                   string
	cursor               uint64
	seen, read, archived bool
}

// isoModel is what the server should hold, and what the streams got.
type isoModel struct {
	rng    *rand.Rand
	users  []string
	topics []string          // self-subscribable
	owner  map[string]string // notification ID → its one direct recipient ("" for a topic's)
	allIDs []string

	inbox  map[string][]*isoEntry // user → entries in cursor order
	subs   map[string]map[string]bool
	mutedT map[string]map[string]bool
	mutedC map[string]map[string]bool
	seq    int

	mu         sync.Mutex
	grpcGot    map[string][]string
	sseGot     map[string][]string
	streamErrs []string
}

func newIsoModel(rng *rand.Rand) *isoModel {
	m := &isoModel{
		rng:     rng,
		topics:  []string{"iso/t0", "iso/t1", "iso/t2", "iso/t3"},
		owner:   map[string]string{},
		inbox:   map[string][]*isoEntry{},
		subs:    map[string]map[string]bool{},
		mutedT:  map[string]map[string]bool{},
		mutedC:  map[string]map[string]bool{},
		grpcGot: map[string][]string{},
		sseGot:  map[string][]string{},
	}
	// IDs that are no substring of one another, nor of anything else a
	// response carries, so that finding one in a text is a leak.
	for len(m.users) < 8 {
		u := fmt.Sprintf("usr-%08x", rng.Uint32())
		if !slices.Contains(m.users, u) {
			m.users = append(m.users, u)
			m.subs[u], m.mutedT[u], m.mutedC[u] = map[string]bool{}, map[string]bool{}, map[string]bool{}
		}
	}
	return m
}

func (m *isoModel) entries() int {
	n := 0
	for _, es := range m.inbox {
		n += len(es)
	}
	return n
}

// leak returns what in text belongs to another user than u: an ID, or a
// notification sent to another user only.
func (m *isoModel) leak(u, text string) string {
	for _, v := range m.users {
		if v != u && strings.Contains(text, v) {
			return "user ID " + v
		}
	}
	for id, o := range m.owner {
		if o != "" && o != u && strings.Contains(text, id) {
			return "notification " + id + " of " + o
		}
	}
	return ""
}

// seen checks a response (or its error) that u received.
func (m *isoModel) seen(t *testing.T, u, where string, resp proto.Message, err error) {
	t.Helper()
	text := status.Convert(err).Message()
	if err == nil {
		b, merr := protojson.Marshal(resp)
		if merr != nil {
			t.Fatalf("%s: %v", where, merr)
		}
		text = string(b)
	}
	if l := m.leak(u, text); l != "" {
		t.Errorf("%s: %s in %s", where, l, text)
	}
}

func (m *isoModel) deliver(u, id string) {
	es := m.inbox[u]
	m.inbox[u] = append(es, &isoEntry{id: id, cursor: uint64(len(es) + 1)})
}

func (m *isoModel) sent(id, owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owner[id] = owner
	m.allIDs = append(m.allIDs, id)
}

func (m *isoModel) notifyDirect(ctx context.Context, t *testing.T, nc heraldv1.NotifyServiceClient, u, where string) {
	t.Helper()
	m.seq++
	data, _ := structpb.NewStruct(map[string]any{"owner": u, "n": m.seq})
	r, err := nc.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: []string{u}},
		Title:    "for " + u,
		Body:     fmt.Sprintf("body of %s #%d", u, m.seq),
		Data:     data,
	}})
	if err != nil {
		t.Fatalf("%s: Notify: %v", where, err)
	}
	m.sent(r.GetId(), u)
	m.deliver(u, r.GetId())
}

func (m *isoModel) notifyTopic(ctx context.Context, t *testing.T, nc heraldv1.NotifyServiceClient, where string) {
	t.Helper()
	m.seq++
	topic := m.topics[m.rng.IntN(len(m.topics))]
	category := []string{"", "promo"}[m.rng.IntN(2)]
	data, _ := structpb.NewStruct(map[string]any{"topic": topic, "n": m.seq})
	r, err := nc.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
		Audience: &heraldv1.Audience{Topics: []string{topic}},
		Title:    "on " + topic,
		Category: category,
		Data:     data,
	}})
	if err != nil {
		t.Fatalf("%s: Notify to %s: %v", where, topic, err)
	}
	m.sent(r.GetId(), "")
	reached := 0
	for _, u := range m.users { // ascending ID order is not needed: one entry each
		if m.subs[u][topic] && !m.mutedT[u][topic] && (category == "" || !m.mutedC[u][category]) {
			m.deliver(u, r.GetId())
			reached++
		}
	}
	if int(r.GetRecipients()) != reached {
		t.Errorf("%s: Notify to %s reached %d, want %d", where, topic, r.GetRecipients(), reached)
	}
}

func (m *isoModel) counts(u string) (unread, unseen int32) {
	for _, e := range m.inbox[u] {
		if e.archived {
			continue
		}
		if !e.read {
			unread++
		}
		if !e.seen {
			unseen++
		}
	}
	return unread, unseen
}

func (m *isoModel) checkCounts(t *testing.T, u, where string, c *heraldv1.InboxCounts) {
	t.Helper()
	unread, unseen := m.counts(u)
	if c.GetUnread() != unread || c.GetUnseen() != unseen {
		t.Errorf("%s: counts %v, want unread %d unseen %d", where, c, unread, unseen)
	}
}

func (m *isoModel) list(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient, u, where string) {
	t.Helper()
	req := &heraldv1.ListInboxRequest{
		PageSize:   int32(1 + m.rng.IntN(20)),
		UnreadOnly: m.rng.IntN(3) == 0,
		Archived:   heraldv1.ArchiveFilter(m.rng.IntN(4)),
	}
	if m.rng.IntN(8) == 0 && len(m.allIDs) > 0 {
		// Another user's cursor as a page token lists the caller's own.
		req.PageToken = strconv.Itoa(1 + m.rng.IntN(len(m.allIDs)))
	}
	var want []*isoEntry
	for _, e := range slices.Backward(m.inbox[u]) {
		if req.PageToken != "" && e.cursor >= mustUint(req.PageToken) {
			continue
		}
		arch := req.GetArchived()
		switch {
		case req.UnreadOnly && e.read:
		case (arch == heraldv1.ArchiveFilter_ARCHIVE_FILTER_UNSPECIFIED || arch == heraldv1.ArchiveFilter_ARCHIVE_FILTER_EXCLUDE) && e.archived:
		case arch == heraldv1.ArchiveFilter_ARCHIVE_FILTER_ONLY && !e.archived:
		default:
			want = append(want, e)
		}
	}
	var got []*heraldv1.InboxEntry
	for page := 0; ; page++ {
		r, err := ic.ListInbox(ctx, req)
		m.seen(t, u, fmt.Sprintf("%s ListInbox page %d", where, page), r, err)
		if err != nil {
			t.Fatalf("%s: ListInbox %v: %v", where, req, err)
		}
		m.checkCounts(t, u, where+" ListInbox", r.GetCounts())
		got = append(got, r.GetEntries()...)
		if r.GetNextPageToken() == "" || page > 1000 {
			break
		}
		req.PageToken = r.GetNextPageToken()
	}
	if len(got) != len(want) {
		t.Errorf("%s: ListInbox %v listed %d entries, want %d", where, req, len(got), len(want))
		return
	}
	for i, g := range got {
		w := want[i]
		if g.GetEvent().GetId() != w.id || g.GetEvent().GetCursor() != strconv.FormatUint(w.cursor, 10) ||
			g.GetSeen() != w.seen || g.GetRead() != w.read || g.GetArchived() != w.archived {
			t.Errorf("%s: ListInbox entry %d = %v, want %+v", where, i, g, *w)
		}
	}
}

func mustUint(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

var isoActions = []heraldv1.MarkAction{
	heraldv1.MarkAction_MARK_ACTION_SEEN, heraldv1.MarkAction_MARK_ACTION_READ, heraldv1.MarkAction_MARK_ACTION_UNREAD,
	heraldv1.MarkAction_MARK_ACTION_ARCHIVE, heraldv1.MarkAction_MARK_ACTION_UNARCHIVE,
}

func (m *isoModel) mark(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient, u, where string) {
	t.Helper()
	req := &heraldv1.MarkInboxRequest{Action: isoActions[m.rng.IntN(len(isoActions))]}
	var selected func(*isoEntry) bool
	if m.rng.IntN(2) == 0 && len(m.allIDs) > 0 {
		// IDs from anyone's notifications: only the caller's own change.
		ids := map[string]bool{}
		for range 1 + m.rng.IntN(6) {
			id := m.allIDs[m.rng.IntN(len(m.allIDs))]
			ids[id] = true
			req.Ids = append(req.Ids, id)
		}
		selected = func(e *isoEntry) bool { return ids[e.id] }
	} else {
		upTo := uint64(m.rng.IntN(len(m.inbox[u]) + 4))
		req.UpToCursor = strconv.FormatUint(upTo, 10)
		selected = func(e *isoEntry) bool { return e.cursor <= upTo }
	}
	changed := int32(0)
	for _, e := range m.inbox[u] {
		if !selected(e) {
			continue
		}
		before := *e
		switch req.Action {
		case heraldv1.MarkAction_MARK_ACTION_SEEN:
			e.seen = true
		case heraldv1.MarkAction_MARK_ACTION_READ:
			e.seen, e.read = true, true
		case heraldv1.MarkAction_MARK_ACTION_UNREAD:
			e.read = false
		case heraldv1.MarkAction_MARK_ACTION_ARCHIVE:
			e.archived = true
		case heraldv1.MarkAction_MARK_ACTION_UNARCHIVE:
			e.archived = false
		}
		if *e != before {
			changed++
		}
	}
	r, err := ic.MarkInbox(ctx, req)
	m.seen(t, u, where+" MarkInbox", r, err)
	if err != nil {
		t.Fatalf("%s: MarkInbox %v: %v", where, req, err)
	}
	if r.GetChanged() != changed {
		t.Errorf("%s: MarkInbox %v changed %d, want %d", where, req, r.GetChanged(), changed)
	}
	m.checkCounts(t, u, where+" MarkInbox", r.GetCounts())
}

func (m *isoModel) subscriptions(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient, u, where string) {
	t.Helper()
	topic := m.topics[m.rng.IntN(len(m.topics))]
	switch m.rng.IntN(4) {
	case 0:
		r, err := ic.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: []string{topic}})
		m.seen(t, u, where+" SubscribeMe", r, err)
		want := int32(0)
		if !m.subs[u][topic] {
			want = 1
		}
		if err != nil || r.GetAdded() != want {
			t.Errorf("%s: SubscribeMe %s = %v, %v; want %d added", where, topic, r, err, want)
		}
		m.subs[u][topic] = true
	case 1:
		r, err := ic.UnsubscribeMe(ctx, &heraldv1.UnsubscribeMeRequest{Topics: []string{topic}})
		m.seen(t, u, where+" UnsubscribeMe", r, err)
		want := int32(0)
		if m.subs[u][topic] {
			want = 1
		}
		if err != nil || r.GetRemoved() != want {
			t.Errorf("%s: UnsubscribeMe %s = %v, %v; want %d removed", where, topic, r, err, want)
		}
		delete(m.subs[u], topic)
	case 2:
		// A topic named after another user, not open to self-subscription:
		// refused, and the refusal names nobody else.
		other := m.users[m.rng.IntN(len(m.users))]
		r, err := ic.SubscribeMe(ctx, &heraldv1.SubscribeMeRequest{Topics: []string{"team:" + other}})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: SubscribeMe team:%s = %v, %v; want PermissionDenied", where, other, r, err)
		}
		if other != u {
			if l := m.leak(u, strings.ReplaceAll(status.Convert(err).Message(), "team:"+other, "")); l != "" {
				t.Errorf("%s: SubscribeMe refusal carries %s: %v", where, l, err)
			}
		}
	default:
		r, err := ic.ListMySubscriptions(ctx, &heraldv1.ListMySubscriptionsRequest{})
		m.seen(t, u, where+" ListMySubscriptions", r, err)
		var want []string
		for _, tp := range m.topics {
			if m.subs[u][tp] {
				want = append(want, tp)
			}
		}
		if err != nil || !slices.Equal(r.GetTopics(), want) {
			t.Errorf("%s: ListMySubscriptions = %v, %v; want %q", where, r, err, want)
		}
	}
}

func (m *isoModel) preferences(ctx context.Context, t *testing.T, ic heraldv1.InboxServiceClient, u, where string) {
	t.Helper()
	if m.rng.IntN(3) == 0 {
		r, err := ic.GetPreferences(ctx, &heraldv1.GetPreferencesRequest{})
		m.seen(t, u, where+" GetPreferences", r, err)
		if err != nil {
			t.Fatalf("%s: GetPreferences: %v", where, err)
		}
		m.checkPrefs(t, u, where+" GetPreferences", r.GetPreferences())
		return
	}
	req := &heraldv1.UpdatePreferencesRequest{}
	topic := m.topics[m.rng.IntN(len(m.topics))]
	switch m.rng.IntN(4) {
	case 0:
		req.MuteTopics = []string{topic}
		m.mutedT[u][topic] = true
	case 1:
		req.UnmuteTopics = []string{topic}
		delete(m.mutedT[u], topic)
	case 2:
		req.MuteCategories = []string{"promo"}
		m.mutedC[u]["promo"] = true
	default:
		req.UnmuteCategories = []string{"promo"}
		delete(m.mutedC[u], "promo")
	}
	r, err := ic.UpdatePreferences(ctx, req)
	m.seen(t, u, where+" UpdatePreferences", r, err)
	if err != nil {
		t.Fatalf("%s: UpdatePreferences %v: %v", where, req, err)
	}
	m.checkPrefs(t, u, where+" UpdatePreferences", r.GetPreferences())
}

func (m *isoModel) checkPrefs(t *testing.T, u, where string, p *heraldv1.Preferences) {
	t.Helper()
	var topics, cats []string
	for _, tp := range m.topics {
		if m.mutedT[u][tp] {
			topics = append(topics, tp)
		}
	}
	if m.mutedC[u]["promo"] {
		cats = []string{"promo"}
	}
	if !slices.Equal(p.GetMutedTopics(), topics) || !slices.Equal(p.GetMutedCategories(), cats) {
		t.Errorf("%s: preferences %v, want topics %q categories %q", where, p, topics, cats)
	}
}

func (m *isoModel) streamErr(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.streamErrs) < 20 {
		m.streamErrs = append(m.streamErrs, fmt.Sprintf(format, args...))
	}
}

// readGRPC records u's gRPC stream until it ends.
func (m *isoModel) readGRPC(u string, st grpc.ServerStreamingClient[heraldv1.StreamResponse]) {
	for range 100000 {
		msg, err := st.Recv()
		if err != nil {
			return
		}
		b, _ := protojson.Marshal(msg)
		m.mu.Lock()
		l := m.leak(u, string(b))
		if ev := msg.GetEvent(); ev != nil {
			m.grpcGot[u] = append(m.grpcGot[u], ev.GetId())
		}
		m.mu.Unlock()
		if l != "" {
			m.streamErr("gRPC stream of %s: %s in %s", u, l, b)
		}
	}
}

// readSSE records u's SSE stream until ctx ends.
func (m *isoModel) readSSE(ctx context.Context, u string, st *rawStream) {
	// Closing the connection is what ends a read in progress.
	stop := context.AfterFunc(ctx, func() { st.conn.Close() })
	defer stop()
	for range 100000 {
		ev, err := st.Next(60 * time.Second)
		if err != nil {
			if ctx.Err() == nil {
				m.streamErr("SSE stream of %s: %v", u, err)
			}
			return
		}
		m.mu.Lock()
		l := m.leak(u, ev.ID+" "+ev.Event+" "+ev.Data)
		var p payload
		if ev.HasID && json.Unmarshal([]byte(ev.Data), &p) == nil && p.ID != "" {
			m.sseGot[u] = append(m.sseGot[u], p.ID)
		}
		m.mu.Unlock()
		if l != "" {
			m.streamErr("SSE stream of %s: %s in %+v", u, l, ev)
		}
	}
}
