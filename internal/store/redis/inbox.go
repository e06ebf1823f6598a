package redisstore

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// Inbox state is the flags character of each entry's state value; the
// meta hash keeps the counts (scripts.go says how they stay exact).

// Entry flags, as the scripts keep them.
const (
	flagSeen     = 1
	flagRead     = 2
	flagArchived = 4
)

// List implements store.Inbox: the page, Last and Counts come from one
// script, an atomic view of the user's entries.
func (s *Store) List(ctx context.Context, user notify.UserID, q store.ListQuery) (store.InboxPage, error) {
	op := "list " + string(user)
	if err := ctx.Err(); err != nil {
		return store.InboxPage{}, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return store.InboxPage{}, err
	}
	limit := min(max(q.Limit, 1), MaxPageLimit)
	k := s.userKeys(user)
	now := s.opts.Now()
	raw, err := listScript.Run(ctx, s.rdb, k.inbox(),
		uint64(q.Before), limit, boolArg(q.UnreadOnly), int(q.Archived), micros(now), s.cutoff(now), s.opts.RetentionCount).Slice()
	if err != nil {
		return store.InboxPage{}, fail(op, err)
	}
	if len(raw) < 4 || (len(raw)-4)%3 != 0 {
		return store.InboxPage{}, fmt.Errorf("store: %s: reply of %d values", op, len(raw))
	}
	num := func(i int) int64 { v, _ := raw[i].(int64); return v }
	page := store.InboxPage{
		Last:    notify.Cursor(num(0)),
		Counts:  notify.Counts{Unread: int(num(1)), Unseen: int(num(2))},
		Entries: make([]store.InboxEntry, 0, (len(raw)-4)/3),
	}
	for i := 4; i < len(raw); i += 3 {
		c, flags := num(i), num(i+1)
		v, _ := raw[i+2].(string)
		topic, n, err := decodeEntry([]byte(v))
		if err != nil {
			return store.InboxPage{}, fmt.Errorf("store: %s: entry %d: %w", op, c, err)
		}
		page.Entries = append(page.Entries, store.InboxEntry{
			Entry:    notify.Entry{User: user, Cursor: notify.Cursor(c), Topic: topic, Notification: n},
			Seen:     flags&flagSeen != 0,
			Read:     flags&flagRead != 0,
			Archived: flags&flagArchived != 0,
		})
	}
	if num(3) == 1 && len(page.Entries) > 0 {
		page.Next = page.Entries[len(page.Entries)-1].Cursor
	}
	return page, nil
}

// Counts implements store.Inbox.
func (s *Store) Counts(ctx context.Context, user notify.UserID) (notify.Counts, error) {
	op := "counts " + string(user)
	if err := ctx.Err(); err != nil {
		return notify.Counts{}, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return notify.Counts{}, err
	}
	now := s.opts.Now()
	vs, err := countsScript.Run(ctx, s.rdb, s.userKeys(user).inbox(), micros(now), s.cutoff(now), s.opts.RetentionCount).Int64Slice()
	if err != nil {
		return notify.Counts{}, fail(op, err)
	}
	if len(vs) != 2 {
		return notify.Counts{}, fmt.Errorf("store: %s: reply of %d values", op, len(vs))
	}
	return notify.Counts{Unread: int(vs[0]), Unseen: int(vs[1])}, nil
}

// Mark implements store.Inbox. One script selects, changes and counts, so
// it is atomic with the appends and trimming of the user; selecting by ID
// looks the cursors up in the user's notification-ID index, so it reads
// only the entries it names.
func (s *Store) Mark(ctx context.Context, user notify.UserID, m store.Mark) (int, notify.Counts, error) {
	op := "mark " + string(user)
	if m.Action < store.MarkSeen || m.Action > store.MarkUnarchive {
		return 0, notify.Counts{}, fmt.Errorf("store: %s: unknown action %d", op, m.Action)
	}
	if err := ctx.Err(); err != nil {
		return 0, notify.Counts{}, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return 0, notify.Counts{}, err
	}
	k := s.userKeys(user)
	now := s.opts.Now()
	args := make([]any, 0, 5+len(m.IDs))
	args = append(args, int(m.Action), uint64(m.UpTo), micros(now), s.cutoff(now), s.opts.RetentionCount)
	for _, id := range m.IDs {
		args = append(args, id)
	}
	vs, err := s.runOne(ctx, markScript, k.inbox(), args...).Int64Slice()
	if err != nil {
		return 0, notify.Counts{}, fail(op, err)
	}
	if len(vs) != 3 {
		return 0, notify.Counts{}, fmt.Errorf("store: %s: reply of %d values", op, len(vs))
	}
	return int(vs[0]), notify.Counts{Unread: int(vs[1]), Unseen: int(vs[2])}, nil
}
