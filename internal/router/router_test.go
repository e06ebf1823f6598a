package router_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/router"
	"github.com/heraldhq/herald/internal/store"
)

// fakeSubs is a fixed topic → subscribers table; the topic "broken" fails.
type fakeSubs map[notify.Topic][]notify.UserID

var errBroken = errors.New("subscription store down")

func (f fakeSubs) Subscribers(_ context.Context, t notify.Topic, fn func(notify.UserID) error) error {
	if t == "broken" {
		return errBroken
	}
	for _, u := range f[t] {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func TestRoute(t *testing.T) {
	t.Parallel()
	subs := fakeSubs{
		"news":   {"bob", "carol", "alice"},
		"sports": {"carol", "dave"},
		"empty":  nil,
	}
	tests := []struct {
		name   string
		subs   router.Subscribers
		users  []notify.UserID
		topics []notify.Topic
		want   []store.Recipient
	}{
		{"users only", subs, []notify.UserID{"alice", "bob"}, nil,
			[]store.Recipient{{User: "alice"}, {User: "bob"}}},
		{"duplicate users", subs, []notify.UserID{"alice", "alice"}, nil,
			[]store.Recipient{{User: "alice"}}},
		{"topic only", subs, nil, []notify.Topic{"sports"},
			[]store.Recipient{{User: "carol", Topic: "sports"}, {User: "dave", Topic: "sports"}}},
		{"direct wins over topic", subs, []notify.UserID{"alice"}, []notify.Topic{"news"},
			[]store.Recipient{{User: "alice"}, {User: "bob", Topic: "news"}, {User: "carol", Topic: "news"}}},
		{"first topic wins", subs, nil, []notify.Topic{"news", "sports"},
			[]store.Recipient{{User: "bob", Topic: "news"}, {User: "carol", Topic: "news"}, {User: "alice", Topic: "news"}, {User: "dave", Topic: "sports"}}},
		{"empty topic", subs, nil, []notify.Topic{"empty"}, []store.Recipient{}},
		{"nil subscribers", nil, []notify.UserID{"alice"}, []notify.Topic{"news"},
			[]store.Recipient{{User: "alice"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := router.New(tt.subs).Route(context.Background(), &notify.Notification{Users: tt.users, Topics: tt.topics})
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Route = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	t.Parallel()
	r := router.New(fakeSubs{"news": {"bob"}})
	if _, err := r.Route(context.Background(), &notify.Notification{Topics: []notify.Topic{"news", "broken"}}); !errors.Is(err, errBroken) {
		t.Errorf("Route err = %v, want %v", err, errBroken)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Route(ctx, &notify.Notification{Topics: []notify.Topic{"news"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Route with cancelled context err = %v, want Canceled", err)
	}
}
