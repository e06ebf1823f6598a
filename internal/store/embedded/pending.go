package embedded

// Placeholders while the subscription, preference and inbox parts of the
// store contract are being built; each is deleted as its real one lands.

import (
	"context"
	"errors"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

var errPending = errors.New("embedded: not built yet")

// --- subscriptions and preferences (owner: subscriptions.go, preferences.go)

func (s *Store) Subscribe(context.Context, []notify.Topic, []notify.UserID) (int, error) {
	return 0, errPending
}

func (s *Store) Unsubscribe(context.Context, []notify.Topic, []notify.UserID) (int, error) {
	return 0, errPending
}

func (s *Store) UserTopics(context.Context, notify.UserID, notify.Topic, int) ([]notify.Topic, error) {
	return nil, errPending
}

func (s *Store) TopicSubscribers(context.Context, notify.Topic, notify.UserID, int) ([]notify.UserID, error) {
	return nil, errPending
}

func (s *Store) UserPreferences(context.Context, notify.UserID) (store.UserPreferences, error) {
	return store.UserPreferences{}, errPending
}

func (s *Store) UpdatePreferences(context.Context, notify.UserID, store.PreferenceChange) (store.UserPreferences, error) {
	return store.UserPreferences{}, errPending
}

func (s *Store) PreferencesOf(context.Context, []notify.UserID) ([]store.UserPreferences, error) {
	return nil, errPending
}

// --- inbox state (owner: inbox.go)

func (s *Store) List(context.Context, notify.UserID, store.ListQuery) (store.InboxPage, error) {
	return store.InboxPage{}, errPending
}

func (s *Store) Mark(context.Context, notify.UserID, store.Mark) (int, notify.Counts, error) {
	return 0, notify.Counts{}, errPending
}

func (s *Store) Counts(context.Context, notify.UserID) (notify.Counts, error) {
	return notify.Counts{}, errPending
}
