package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/logbuf"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/embedded"
)

// readView is what a user and a channel look like to readers.
type readView struct {
	Read         []string // cursor:id
	Last         notify.Cursor
	Page         []string // cursor:id:read
	PageLast     notify.Cursor
	PageCounts   notify.Counts
	Counts       notify.Counts
	Channel      []string // offset:id
	ChannelLast  notify.Cursor
	Preferences  store.UserPreferences
	Topics       []notify.Topic
	MutedOfUsers []store.UserPreferences
}

// observe reads everything a stream, an inbox page and the router read of
// user and ch.
func observe(s *embedded.Store, user notify.UserID, ch notify.Channel) (readView, error) {
	var v readView
	ctx := context.Background()
	es, err := s.Read(ctx, user, 0, 0)
	if err != nil {
		return v, fmt.Errorf("Read: %w", err)
	}
	for _, e := range es {
		v.Read = append(v.Read, fmt.Sprintf("%d:%s", e.Cursor, e.Notification.ID))
	}
	if v.Last, err = s.Last(ctx, user); err != nil {
		return v, fmt.Errorf("Last: %w", err)
	}
	page, err := s.List(ctx, user, store.ListQuery{Limit: 100})
	if err != nil {
		return v, fmt.Errorf("List: %w", err)
	}
	for _, e := range page.Entries {
		v.Page = append(v.Page, fmt.Sprintf("%d:%s:%v", e.Cursor, e.Notification.ID, e.Read))
	}
	v.PageLast, v.PageCounts = page.Last, page.Counts
	if v.Counts, err = s.Counts(ctx, user); err != nil {
		return v, fmt.Errorf("Counts: %w", err)
	}
	evs, err := s.ChannelRead(ctx, ch, 0, 0)
	if err != nil {
		return v, fmt.Errorf("ChannelRead: %w", err)
	}
	for _, e := range evs {
		v.Channel = append(v.Channel, fmt.Sprintf("%d:%s", e.Cursor, e.Notification.ID))
	}
	if v.ChannelLast, err = s.ChannelLast(ctx, ch); err != nil {
		return v, fmt.Errorf("ChannelLast: %w", err)
	}
	if v.Preferences, err = s.UserPreferences(ctx, user); err != nil {
		return v, fmt.Errorf("UserPreferences: %w", err)
	}
	if v.Topics, err = s.UserTopics(ctx, user, "", 0); err != nil {
		return v, fmt.Errorf("UserTopics: %w", err)
	}
	if v.MutedOfUsers, err = s.PreferencesOf(ctx, []notify.UserID{user, "nobody"}); err != nil {
		return v, fmt.Errorf("PreferencesOf: %w", err)
	}
	return v, nil
}

// TestReadsDuringDiskFault fails the disk after some acknowledged writes:
// while it fails, every read answers with what was acknowledged before,
// from the broken database and then from the read-only one that stands in
// while the writable reopen fails, and never with the group whose commit
// failed; writes fail fast with ErrUnavailable and Ready says unready.
// Once the disk works again, writes succeed and nothing acknowledged is
// lost, then or after a restart.
func TestReadsDuringDiskFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		syncOnly bool
	}{{"ENOSPC on writes", false}, {"EIO on fsync", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testReadsDuringDiskFault(t, tc.syncOnly)
		})
	}
}

func testReadsDuringDiskFault(t *testing.T, syncOnly bool) {
	const (
		user = notify.UserID("uma")
		ch   = notify.Channel("room")
	)
	disk := newDiskFault(syncOnly)
	var logs logbuf.Buffer
	opts := embedded.Options{
		FS:     disk.fs,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	s, err := embedded.Open("/db", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer func() { _ = s.Close() }()
	ctx := t.Context()

	appendOK(t, s, to(note("a1"), user), to(note("a2"), user, "bob"))
	appendOK(t, s, to(note("a3"), user))
	if _, err := s.Publish(ctx, note("c1"), []notify.Channel{ch}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if _, _, err := s.Mark(ctx, user, store.Mark{Action: store.MarkRead, IDs: []string{"a1"}}); err != nil {
		t.Fatalf("Mark: %v", err)
	}
	if _, err := s.Subscribe(ctx, []notify.Topic{"news"}, []notify.UserID{user}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := s.UpdatePreferences(ctx, user, store.PreferenceChange{MuteTopics: []notify.Topic{"ads"}}); err != nil {
		t.Fatalf("UpdatePreferences: %v", err)
	}
	want, err := observe(s, user, ch)
	if err != nil {
		t.Fatalf("before the fault: %v", err)
	}
	if len(want.Read) != 3 || len(want.Channel) != 1 || want.Counts.Unread != 2 {
		t.Fatalf("before the fault: %+v", want)
	}

	disk.toggle.On()
	// The group that meets the fault: with EIO on fsync its record is in
	// the WAL, and so in the broken database and the read-only replay.
	if _, err := s.Append(ctx, []store.Delivery{to(note("lost"), user)}); !errors.Is(err, notify.ErrUnavailable) {
		t.Fatalf("Append as the disk fails = %v, want ErrUnavailable", err)
	}
	check := func(stage string) {
		t.Helper()
		got, err := observe(s, user, ch)
		if err != nil {
			t.Fatalf("%s: %v, want what was acknowledged", stage, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: readers see\n%+v\nwant what was acknowledged\n%+v", stage, got, want)
		}
		if err := s.Ready(ctx); !errors.Is(err, notify.ErrUnavailable) {
			t.Errorf("%s: Ready = %v, want ErrUnavailable", stage, err)
		}
		writes := map[string]error{}
		_, writes["Append"] = s.Append(ctx, []store.Delivery{to(note("refused"), user)})
		_, writes["Publish"] = s.Publish(ctx, note("refused"), []notify.Channel{ch})
		_, _, writes["Mark"] = s.Mark(ctx, user, store.Mark{Action: store.MarkRead, UpTo: 100})
		_, writes["Subscribe"] = s.Subscribe(ctx, []notify.Topic{"more"}, []notify.UserID{user})
		_, writes["UpdatePreferences"] = s.UpdatePreferences(ctx, user, store.PreferenceChange{MuteTopics: []notify.Topic{"more"}})
		for op, err := range writes {
			if !errors.Is(err, notify.ErrUnavailable) {
				t.Errorf("%s: %s = %v, want ErrUnavailable", stage, op, err)
			}
		}
	}
	check("broken database")

	// A reopen attempt fails on the failing disk and leaves a read-only
	// database; a read after its warning waits for the swap.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "store: reopen failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed reopen within 5s; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	check("read-only database")
	time.Sleep(500 * time.Millisecond) // a few more attempts, each a swap
	check("read-only database, later")
	if strings.Contains(logs.String(), "read-only open failed") {
		t.Errorf("the read-only open failed:\n%s", logs.String())
	}

	disk.toggle.Off()
	waitReady(t, s, false, 10*time.Second)
	appendOK(t, s, to(note("after"), user))
	if _, err := s.Publish(ctx, note("c2"), []notify.Channel{ch}); err != nil {
		t.Fatalf("Publish after recovery: %v", err)
	}
	if _, err := s.Subscribe(ctx, []notify.Topic{"more"}, []notify.UserID{user}); err != nil {
		t.Errorf("Subscribe after recovery: %v", err)
	}
	recovered := func(s *embedded.Store, stage string) {
		t.Helper()
		got := readIDs(t, s, user, 0)
		ids := strings.Join(got, " ")
		// The group that met the fault may be there, once (see
		// writer.reopen); everything acknowledged is, in order.
		if ids != "a1 a2 a3 after" && ids != "a1 a2 a3 lost after" {
			t.Errorf("%s: inbox %q, want a1 a2 a3 [lost] after", stage, ids)
		}
		if got := readIDs(t, s, "bob", 0); !reflect.DeepEqual(got, []string{"a2"}) {
			t.Errorf("%s: bob's inbox %q, want [a2]", stage, got)
		}
		evs, err := s.ChannelRead(ctx, ch, 0, 0)
		if err != nil || len(evs) != 2 || evs[0].Notification.ID != "c1" || evs[1].Notification.ID != "c2" {
			t.Errorf("%s: channel = %v, %v; want c1, c2", stage, evs, err)
		}
		page, err := s.List(ctx, user, store.ListQuery{Limit: 100})
		if err != nil || len(page.Entries) == 0 || page.Entries[len(page.Entries)-1].Notification.ID != "a1" || !page.Entries[len(page.Entries)-1].Read {
			t.Errorf("%s: inbox page = %+v, %v; want a1 read", stage, page, err)
		}
		if p, err := s.UserPreferences(ctx, user); err != nil || !reflect.DeepEqual(p.MutedTopics, []notify.Topic{"ads"}) {
			t.Errorf("%s: preferences = %+v, %v; want ads muted", stage, p, err)
		}
		if ts, err := s.UserTopics(ctx, user, "", 0); err != nil || !reflect.DeepEqual(ts, []notify.Topic{"more", "news"}) {
			t.Errorf("%s: topics = %v, %v; want [more news]", stage, ts, err)
		}
		t.Logf("%s: inbox %s", stage, ids)
	}
	recovered(s, "after recovery")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s, err = embedded.Open("/db", opts); err != nil {
		t.Fatalf("restart: %v", err)
	}
	recovered(s, "after a restart")
}
