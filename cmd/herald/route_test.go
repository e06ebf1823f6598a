package main_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
)

// A notification to two topics and one user reaches each user once, by the
// documented rule: a user who muted one topic but is reached through the
// other gets it; a user who muted the category does not; a critical one
// ignores preferences. Everything goes through the public APIs.
func TestTopicsAndPreferences(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	subs := heraldv1.NewSubscriptionServiceClient(conn)
	inbox := s.inboxClient(t)
	nc := s.notifyClient(t)

	// ann: both topics; ben: both, muted "order:1"; cat: "team/ops" only,
	// muted it; dan: both, muted the category; eve: addressed directly and
	// subscribed to "order:1".
	for topic, users := range map[string][]string{
		"order:1":  {"ann", "ben", "dan", "eve"},
		"team/ops": {"ann", "ben", "cat", "dan"},
	} {
		if _, err := subs.Subscribe(withKey(ctx), &heraldv1.SubscribeRequest{Topics: []string{topic}, UserIds: users}); err != nil {
			t.Fatal(err)
		}
	}
	for user, req := range map[string]*heraldv1.UpdatePreferencesRequest{
		"ben": {MuteTopics: []string{"order:1"}},
		"cat": {MuteTopics: []string{"team/ops"}},
		"dan": {MuteCategories: []string{"shipping"}},
	} {
		if _, err := inbox.UpdatePreferences(asUser(t, ctx, user), req); err != nil {
			t.Fatal(err)
		}
	}

	send := func(title string, p heraldv1.Priority) *heraldv1.NotifyResponse {
		t.Helper()
		r, err := nc.Notify(withKey(ctx), &heraldv1.NotifyRequest{Notification: &heraldv1.Notification{
			Audience: &heraldv1.Audience{UserIds: []string{"eve"}, Topics: []string{"order:1", "team/ops"}},
			Title:    title, Category: "shipping", Priority: p,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := send("shipped", heraldv1.Priority_PRIORITY_NORMAL); r.GetRecipients() != 3 {
		t.Errorf("recipients %d, want 3 (ann, ben, eve)", r.GetRecipients())
	}
	if r := send("recalled", heraldv1.Priority_PRIORITY_CRITICAL); r.GetRecipients() != 5 {
		t.Errorf("critical recipients %d, want 5", r.GetRecipients())
	}

	want := map[string][]string{ // newest first
		"ann": {"recalled", "shipped"},
		"ben": {"recalled", "shipped"},
		"cat": {"recalled"},
		"dan": {"recalled"},
		"eve": {"recalled", "shipped"},
	}
	for user, titles := range want {
		list, err := inbox.ListInbox(asUser(t, ctx, user), &heraldv1.ListInboxRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list.GetEntries() {
			got = append(got, e.GetEvent().GetTitle())
			if user == "ben" && e.GetEvent().GetTitle() == "shipped" && e.GetEvent().GetTopic() != "team/ops" {
				t.Errorf("ben got %q through %q, want through the topic he did not mute", "shipped", e.GetEvent().GetTopic())
			}
			if user == "eve" && e.GetEvent().GetTopic() != "" {
				t.Errorf("eve's entry names topic %q; she was addressed directly", e.GetEvent().GetTopic())
			}
		}
		if len(got) != len(titles) || (len(got) > 0 && got[0] != titles[0]) || (len(got) > 1 && got[1] != titles[1]) {
			t.Errorf("%s's inbox %v, want %v", user, got, titles)
		}
	}
}
