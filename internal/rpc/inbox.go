package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Page sizes of ListInbox.
const (
	defaultInboxPage = 50
	maxInboxPage     = 200
)

// InboxStore is what the inbox methods read and change: the inbox with its
// state, the caller's subscriptions and preferences.
type InboxStore interface {
	store.Inbox
	topicLister
	Subscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error)
	Unsubscribe(ctx context.Context, topics []notify.Topic, users []notify.UserID) (int, error)
	UserPreferences(ctx context.Context, user notify.UserID) (store.UserPreferences, error)
	UpdatePreferences(ctx context.Context, user notify.UserID, change store.PreferenceChange) (store.UserPreferences, error)
}

// Publisher hands entries to the user's open streams; *hub.Hub implements
// it.
type Publisher interface {
	Publish(entries []notify.Entry)
}

// InboxConfig configures an InboxServer.
type InboxConfig struct {
	Store InboxStore
	// Publisher receives a read-state entry after each MarkInbox that
	// changed something; nil sends none.
	Publisher Publisher
	// SelfSubscribe are the path.Match patterns of topics users may join
	// with SubscribeMe; empty allows none.
	SelfSubscribe []string
	Logger        *slog.Logger
}

// InboxServer implements the unary methods of herald.v1.InboxService. Every
// method acts on the user of the verified token (auth.UserFrom), never on an
// ID from the request: no request message even has a field for one. Stream
// is served by StreamServer.
type InboxServer struct {
	heraldv1.UnimplementedInboxServiceServer
	cfg InboxConfig
}

// NewInboxServer returns an InboxServer.
func NewInboxServer(cfg InboxConfig) *InboxServer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.SelfSubscribe = append([]string(nil), cfg.SelfSubscribe...)
	return &InboxServer{cfg: cfg}
}

// caller returns the authenticated user. Its absence means the server was
// wired without the user interceptor; refusing keeps that from opening
// anyone's inbox.
func caller(ctx context.Context) (notify.UserID, error) {
	u, ok := auth.UserFrom(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "a user token is required")
	}
	return u, nil
}

// ListInbox lists one page of the caller's inbox, newest first.
func (s *InboxServer) ListInbox(ctx context.Context, req *heraldv1.ListInboxRequest) (*heraldv1.ListInboxResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	q := store.ListQuery{
		Limit:      v.pageSize(req.GetPageSize(), defaultInboxPage, maxInboxPage),
		UnreadOnly: req.GetUnreadOnly(),
	}
	if t := req.GetPageToken(); t != "" {
		c, err := notify.ParseCursor(t)
		if err != nil {
			v.Add("page_token", "not a next_page_token of this listing")
		}
		q.Before = c
	}
	switch req.GetArchived() {
	case heraldv1.ArchiveFilter_ARCHIVE_FILTER_UNSPECIFIED, heraldv1.ArchiveFilter_ARCHIVE_FILTER_EXCLUDE:
		q.Archived = store.ArchiveExclude
	case heraldv1.ArchiveFilter_ARCHIVE_FILTER_ONLY:
		q.Archived = store.ArchiveOnly
	case heraldv1.ArchiveFilter_ARCHIVE_FILTER_INCLUDE:
		q.Archived = store.ArchiveInclude
	default:
		v.Add("archived", "unknown value %d", int32(req.GetArchived()))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	page, err := s.cfg.Store.List(ctx, user, q)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "ListInbox", err)
	}
	out := &heraldv1.ListInboxResponse{
		Entries:      make([]*heraldv1.InboxEntry, len(page.Entries)),
		StreamCursor: page.Last.String(),
		Counts:       countsOf(page.Counts),
	}
	for i, e := range page.Entries {
		out.Entries[i] = &heraldv1.InboxEntry{Event: eventOf(e.Entry), Seen: e.Seen, Read: e.Read, Archived: e.Archived}
	}
	if page.Next != 0 {
		out.NextPageToken = page.Next.String()
	}
	return out, nil
}

var markActions = map[heraldv1.MarkAction]store.MarkAction{
	heraldv1.MarkAction_MARK_ACTION_SEEN:      store.MarkSeen,
	heraldv1.MarkAction_MARK_ACTION_READ:      store.MarkRead,
	heraldv1.MarkAction_MARK_ACTION_UNREAD:    store.MarkUnread,
	heraldv1.MarkAction_MARK_ACTION_ARCHIVE:   store.MarkArchive,
	heraldv1.MarkAction_MARK_ACTION_UNARCHIVE: store.MarkUnarchive,
}

// MarkInbox changes the state of the caller's entries and tells the
// caller's open streams the new counts.
func (s *InboxServer) MarkInbox(ctx context.Context, req *heraldv1.MarkInboxRequest) (*heraldv1.MarkInboxResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	m := store.Mark{Action: markActions[req.GetAction()]}
	if m.Action == 0 {
		v.Add("action", "required: one of seen, read, unread, archive, unarchive")
	}
	ids, upTo := req.GetIds(), req.GetUpToCursor()
	switch {
	case len(ids) == 0 && upTo == "":
		v.Add("ids", "exactly one of ids and up_to_cursor is required")
	case len(ids) > 0 && upTo != "":
		v.Add("up_to_cursor", "exactly one of ids and up_to_cursor may be set")
	case len(ids) > maxMarkIDs:
		v.Add("ids", "at most %d IDs, got %d", maxMarkIDs, len(ids))
	case len(ids) > 0:
		m.IDs = make([]string, 0, len(ids))
		for i, id := range ids {
			if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
				v.Add(fmt.Sprintf("ids[%d]", i), "must be the id of an event")
				continue
			}
			m.IDs = append(m.IDs, id)
		}
	default:
		c, err := notify.ParseCursor(upTo)
		if err != nil {
			v.Add("up_to_cursor", "must be the cursor of an event (decimal digits)")
		}
		m.UpTo = c
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	changed, counts, err := s.cfg.Store.Mark(ctx, user, m)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "MarkInbox", err)
	}
	if changed > 0 && s.cfg.Publisher != nil {
		c := counts
		s.cfg.Publisher.Publish([]notify.Entry{{User: user, Counts: &c}})
	}
	return &heraldv1.MarkInboxResponse{Changed: int32(changed), Counts: countsOf(counts)}, nil
}

// GetInboxCounts returns the caller's counts.
func (s *InboxServer) GetInboxCounts(ctx context.Context, _ *heraldv1.GetInboxCountsRequest) (*heraldv1.GetInboxCountsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.cfg.Store.Counts(ctx, user)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "GetInboxCounts", err)
	}
	return &heraldv1.GetInboxCountsResponse{Counts: countsOf(c)}, nil
}

// ListMySubscriptions lists one page of the caller's topics.
func (s *InboxServer) ListMySubscriptions(ctx context.Context, req *heraldv1.ListMySubscriptionsRequest) (*heraldv1.ListMySubscriptionsResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	size := v.pageSize(req.GetPageSize(), defaultSubsPage, maxSubsPage)
	after := v.pageAfter(req.GetPageToken(), validTopic)
	if err := v.err(); err != nil {
		return nil, err
	}
	topics, next, err := topicPage(ctx, s.cfg.Store, user, notify.Topic(after), size)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "ListMySubscriptions", err)
	}
	return &heraldv1.ListMySubscriptionsResponse{Topics: topics, NextPageToken: next}, nil
}

// SubscribeMe subscribes the caller to topics that users may join
// themselves; if any topic is not, nothing is subscribed.
func (s *InboxServer) SubscribeMe(ctx context.Context, req *heraldv1.SubscribeMeRequest) (*heraldv1.SubscribeMeResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	topics := v.topics("topics", req.GetTopics(), true)
	if err := v.err(); err != nil {
		return nil, err
	}
	var refused []string
	for _, t := range topics {
		if !s.selfSubscribable(t) {
			refused = append(refused, string(t))
		}
	}
	if len(refused) > 0 {
		const shown = 5
		msg := strings.Join(refused[:min(len(refused), shown)], ", ")
		if len(refused) > shown {
			msg += fmt.Sprintf(" (and %d more)", len(refused)-shown)
		}
		return nil, status.Errorf(codes.PermissionDenied, "users may not subscribe themselves to: %s", msg)
	}
	n, err := s.cfg.Store.Subscribe(ctx, topics, []notify.UserID{user})
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "SubscribeMe", err)
	}
	return &heraldv1.SubscribeMeResponse{Added: int32(n)}, nil
}

func (s *InboxServer) selfSubscribable(t notify.Topic) bool {
	for _, p := range s.cfg.SelfSubscribe {
		// The configuration validated the patterns; a bad one matches
		// nothing.
		if ok, err := path.Match(p, string(t)); ok && err == nil {
			return true
		}
	}
	return false
}

// UnsubscribeMe removes the caller from topics, whoever subscribed them.
func (s *InboxServer) UnsubscribeMe(ctx context.Context, req *heraldv1.UnsubscribeMeRequest) (*heraldv1.UnsubscribeMeResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	topics := v.topics("topics", req.GetTopics(), true)
	if err := v.err(); err != nil {
		return nil, err
	}
	n, err := s.cfg.Store.Unsubscribe(ctx, topics, []notify.UserID{user})
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "UnsubscribeMe", err)
	}
	return &heraldv1.UnsubscribeMeResponse{Removed: int32(n)}, nil
}

// GetPreferences returns the caller's mutes.
func (s *InboxServer) GetPreferences(ctx context.Context, _ *heraldv1.GetPreferencesRequest) (*heraldv1.GetPreferencesResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	p, err := s.cfg.Store.UserPreferences(ctx, user)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "GetPreferences", err)
	}
	return &heraldv1.GetPreferencesResponse{Preferences: preferencesOf(p)}, nil
}

// UpdatePreferences mutes and unmutes topics and categories of the caller.
func (s *InboxServer) UpdatePreferences(ctx context.Context, req *heraldv1.UpdatePreferencesRequest) (*heraldv1.UpdatePreferencesResponse, error) {
	user, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	var v violations
	ch := store.PreferenceChange{
		MuteTopics:       v.topics("mute_topics", req.GetMuteTopics(), false),
		UnmuteTopics:     v.topics("unmute_topics", req.GetUnmuteTopics(), false),
		MuteCategories:   v.categories("mute_categories", req.GetMuteCategories()),
		UnmuteCategories: v.categories("unmute_categories", req.GetUnmuteCategories()),
	}
	for _, t := range both(ch.MuteTopics, ch.UnmuteTopics) {
		v.Add("unmute_topics", "%q is also in mute_topics", t)
	}
	for _, c := range both(ch.MuteCategories, ch.UnmuteCategories) {
		v.Add("unmute_categories", "%q is also in mute_categories", c)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	p, err := s.cfg.Store.UpdatePreferences(ctx, user, ch)
	if err != nil {
		return nil, toStatus(ctx, s.cfg.Logger, "UpdatePreferences", err)
	}
	return &heraldv1.UpdatePreferencesResponse{Preferences: preferencesOf(p)}, nil
}

// both returns the names in a and in b.
func both[T ~string](a, b []T) []T {
	in := make(map[T]struct{}, len(a))
	for _, x := range a {
		in[x] = struct{}{}
	}
	var out []T
	for _, x := range b {
		if _, ok := in[x]; ok {
			out = append(out, x)
		}
	}
	return out
}

func countsOf(c notify.Counts) *heraldv1.InboxCounts {
	return &heraldv1.InboxCounts{Unread: int32(c.Unread), Unseen: int32(c.Unseen)}
}

func preferencesOf(p store.UserPreferences) *heraldv1.Preferences {
	out := &heraldv1.Preferences{
		MutedTopics:     make([]string, len(p.MutedTopics)),
		MutedCategories: append([]string{}, p.MutedCategories...),
	}
	for i, t := range p.MutedTopics {
		out.MutedTopics[i] = string(t)
	}
	return out
}
