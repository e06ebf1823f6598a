package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

// A user's mutes are one HASH in the user's slot, a field per mute: "t"
// and the topic, or "c" and the category. A change is one MULTI on it
// (mutes, then unmutes, then the result), so concurrent changes never
// lose one another; a user with nothing muted has no key.

const (
	fieldTopic    = "t"
	fieldCategory = "c"
)

// UserPreferences implements store.Preferences.
func (s *Store) UserPreferences(ctx context.Context, user notify.UserID) (store.UserPreferences, error) {
	ps, err := s.PreferencesOf(ctx, []notify.UserID{user})
	if err != nil {
		return store.UserPreferences{}, err
	}
	return ps[0], nil
}

// UpdatePreferences implements store.Preferences: the mutes, then the
// unmutes, applied atomically.
func (s *Store) UpdatePreferences(ctx context.Context, user notify.UserID, change store.PreferenceChange) (store.UserPreferences, error) {
	op := "update preferences of " + string(user)
	if err := ctx.Err(); err != nil {
		return store.UserPreferences{}, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := s.open(op); err != nil {
		return store.UserPreferences{}, err
	}
	var (
		mute   []any
		unmute []string
	)
	for _, t := range change.MuteTopics {
		mute = append(mute, fieldTopic+string(t), "")
	}
	for _, c := range change.MuteCategories {
		mute = append(mute, fieldCategory+c, "")
	}
	for _, t := range change.UnmuteTopics {
		unmute = append(unmute, fieldTopic+string(t))
	}
	for _, c := range change.UnmuteCategories {
		unmute = append(unmute, fieldCategory+c)
	}
	key := s.userKeys(user).prefs
	tx := s.rdb.TxPipeline()
	if len(mute) > 0 {
		tx.HSet(ctx, key, mute...)
	}
	if len(unmute) > 0 {
		tx.HDel(ctx, key, unmute...)
	}
	keys := tx.HKeys(ctx, key)
	if _, err := tx.Exec(ctx); err != nil {
		return store.UserPreferences{}, fail(op, err)
	}
	return prefsOf(keys.Val()), nil
}

// PreferencesOf implements store.Preferences: one pipeline for all users.
func (s *Store) PreferencesOf(ctx context.Context, users []notify.UserID) ([]store.UserPreferences, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: preferences: %w", err)
	}
	if err := s.open("preferences"); err != nil {
		return nil, err
	}
	out := make([]store.UserPreferences, len(users))
	if len(users) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(users))
	for i, u := range users {
		cmds[i] = pipe.HKeys(ctx, s.userKeys(u).prefs)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fail("preferences", err)
	}
	for i, c := range cmds {
		out[i] = prefsOf(c.Val())
	}
	return out, nil
}

// prefsOf turns the fields of a preferences hash into sorted lists.
func prefsOf(fields []string) store.UserPreferences {
	var p store.UserPreferences
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f, fieldTopic):
			p.MutedTopics = append(p.MutedTopics, notify.Topic(f[len(fieldTopic):]))
		case strings.HasPrefix(f, fieldCategory):
			p.MutedCategories = append(p.MutedCategories, f[len(fieldCategory):])
		}
	}
	slices.Sort(p.MutedTopics)
	slices.Sort(p.MutedCategories)
	return p
}
