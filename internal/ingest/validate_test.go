package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/validate"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// valid returns a complete, valid notification that mod may spoil.
func valid(mod func(*heraldv1.Notification)) *heraldv1.Notification {
	data, _ := structpb.NewStruct(map[string]any{"order": "A-1", "total": 12.5, "items": []any{"x", true, nil}})
	n := &heraldv1.Notification{
		Audience: &heraldv1.Audience{UserIds: []string{"alice", "bob", "alice"}, Topics: []string{"orders/eu:1", "orders/eu:1"},
			Channels: []string{"rooms/dev", "scores/m-42", "rooms/dev"}},
		Type:           "order.shipped",
		Title:          "Shipped",
		Body:           "Your order is on its way.\nTrack it.",
		Data:           data,
		Category:       "orders",
		Priority:       heraldv1.Priority_PRIORITY_HIGH,
		IdempotencyKey: "order-A-1-shipped",
		ExpireTime:     timestamppb.New(testNow.Add(time.Hour)),
	}
	if mod != nil {
		mod(n)
	}
	return n
}

func TestValidateAccepts(t *testing.T) {
	t.Parallel()
	got, err := ingest.Validate(valid(nil), ingest.Limits{}, testNow)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if want := []notify.UserID{"alice", "bob"}; !reflect.DeepEqual(got.Users, want) {
		t.Errorf("users = %v, want %v", got.Users, want)
	}
	if want := []notify.Topic{"orders/eu:1"}; !reflect.DeepEqual(got.Topics, want) {
		t.Errorf("topics = %v, want %v", got.Topics, want)
	}
	if want := []notify.Channel{"rooms/dev", "scores/m-42"}; !reflect.DeepEqual(got.Channels, want) {
		t.Errorf("channels = %v, want %v", got.Channels, want)
	}
	if got.Priority != notify.PriorityHigh || got.Type != "order.shipped" || got.Category != "orders" ||
		got.IdempotencyKey != "order-A-1-shipped" || !got.ExpireTime.Equal(testNow.Add(time.Hour)) {
		t.Errorf("notification = %+v", got)
	}
	if want := `{"items":["x",true,null],"order":"A-1","total":12.5}`; !jsonEqual(t, got.Data, want) || strings.ContainsAny(string(got.Data), " \n") {
		t.Errorf("data = %s, want compact %s", got.Data, want)
	}
	// The data must round-trip to the same Struct.
	back := &structpb.Struct{}
	if err := protojson.Unmarshal(got.Data, back); err != nil || !proto.Equal(back, valid(nil).GetData()) {
		t.Errorf("data does not round-trip: %v", err)
	}
}

func TestValidateDefaults(t *testing.T) {
	t.Parallel()
	got, err := ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{Topics: []string{"news"}}, Title: "Hi"}, ingest.Limits{}, testNow)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got.Priority != notify.PriorityNormal || got.Data != nil || !got.ExpireTime.IsZero() || got.Users != nil {
		t.Errorf("notification = %+v", got)
	}
	only, err := ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{Channels: []string{"rooms/dev"}}, Title: "Hi"}, ingest.Limits{}, testNow)
	if err != nil || only.Users != nil || only.Topics != nil || !reflect.DeepEqual(only.Channels, []notify.Channel{"rooms/dev"}) {
		t.Errorf("channel only = %+v, %v; want the channel alone", only, err)
	}
	empty, err := ingest.Validate(valid(func(n *heraldv1.Notification) { n.Data = &structpb.Struct{} }), ingest.Limits{}, testNow)
	if err != nil || empty.Data != nil {
		t.Errorf("empty data = %+v, %v; want nil data", empty, err)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(a, b)
}

func TestValidateRefuses(t *testing.T) {
	t.Parallel()
	lim := ingest.Limits{MaxTitleBytes: 10, MaxBodyBytes: 20, MaxDataBytes: 30, MaxRecipients: 3, MaxTopics: 2, MaxChannels: 3, MaxKeyBytes: 8}
	big, _ := structpb.NewStruct(map[string]any{"k": strings.Repeat("v", 40)})
	huge, _ := structpb.NewStruct(map[string]any{"k": strings.Repeat("v", 1000)})
	// {"k":"…"} is 8 bytes around the string: 31 bytes, one over the limit.
	justOver, _ := structpb.NewStruct(map[string]any{"k": strings.Repeat("v", 23)})
	manyOver, _ := structpb.NewStruct(map[string]any{"a": 1, "b": []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "c": map[string]any{"d": "e"}})
	tests := []struct {
		name string
		mod  func(*heraldv1.Notification)
		want []string // violated fields, in order
	}{
		{"no audience", func(n *heraldv1.Notification) { n.Audience = nil }, []string{"notification.audience"}},
		{"empty audience", func(n *heraldv1.Notification) { n.Audience = &heraldv1.Audience{} }, []string{"notification.audience"}},
		{"bad user IDs", func(n *heraldv1.Notification) { n.Audience.UserIds = []string{"ok", "", "a\nb"} },
			[]string{"notification.audience.user_ids[1]", "notification.audience.user_ids[2]"}},
		{"long user ID", func(n *heraldv1.Notification) { n.Audience.UserIds = []string{strings.Repeat("u", 257)} },
			[]string{"notification.audience.user_ids[0]"}},
		{"too many users", func(n *heraldv1.Notification) { n.Audience.UserIds = []string{"a", "b", "c", "d"} },
			[]string{"notification.audience.user_ids"}},
		{"bad topics", func(n *heraldv1.Notification) { n.Audience.Topics = []string{"a b", "ü"} },
			[]string{"notification.audience.topics[0]", "notification.audience.topics[1]"}},
		{"long topic", func(n *heraldv1.Notification) { n.Audience.Topics = []string{strings.Repeat("t", 201)} },
			[]string{"notification.audience.topics[0]"}},
		{"too many topics", func(n *heraldv1.Notification) { n.Audience.Topics = []string{"a", "b", "c"} },
			[]string{"notification.audience.topics"}},
		{"bad channels", func(n *heraldv1.Notification) { n.Audience.Channels = []string{"a b", "", "ü"} },
			[]string{"notification.audience.channels[0]", "notification.audience.channels[1]", "notification.audience.channels[2]"}},
		{"long channel", func(n *heraldv1.Notification) { n.Audience.Channels = []string{strings.Repeat("c", 201)} },
			[]string{"notification.audience.channels[0]"}},
		{"too many channels", func(n *heraldv1.Notification) { n.Audience.Channels = []string{"a", "b", "c", "d"} },
			[]string{"notification.audience.channels"}},
		{"too many of each", func(n *heraldv1.Notification) {
			n.Audience = &heraldv1.Audience{UserIds: []string{"a", "b", "c", "d"}, Topics: []string{"a", "b", "c"}, Channels: []string{"a", "b", "c", "d"}}
		}, []string{"notification.audience.user_ids", "notification.audience.topics", "notification.audience.channels"}},
		{"empty audience lists", func(n *heraldv1.Notification) {
			n.Audience = &heraldv1.Audience{UserIds: []string{}, Topics: []string{}, Channels: []string{}}
		}, []string{"notification.audience"}},
		{"no title", func(n *heraldv1.Notification) { n.Title = "" }, []string{"notification.title"}},
		{"blank title", func(n *heraldv1.Notification) { n.Title = " \t\n" }, []string{"notification.title"}},
		{"long title", func(n *heraldv1.Notification) { n.Title = strings.Repeat("x", 11) }, []string{"notification.title"}},
		{"title not UTF-8", func(n *heraldv1.Notification) { n.Title = "a\xff" }, []string{"notification.title"}},
		{"long body", func(n *heraldv1.Notification) { n.Body = strings.Repeat("x", 21) }, []string{"notification.body"}},
		{"large data", func(n *heraldv1.Notification) { n.Data = big }, []string{"notification.data"}},
		{"huge data", func(n *heraldv1.Notification) { n.Data = huge }, []string{"notification.data"}},
		{"data one byte long", func(n *heraldv1.Notification) { n.Data = justOver }, []string{"notification.data"}},
		{"data long in a list", func(n *heraldv1.Notification) { n.Data = manyOver }, []string{"notification.data"}},
		{"NaN in data", func(n *heraldv1.Notification) {
			n.Data = &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}}
		}, []string{"notification.data.x"}},
		{"unset value in data", func(n *heraldv1.Notification) {
			n.Data = &structpb.Struct{Fields: map[string]*structpb.Value{"x": {}}}
		}, []string{"notification.data.x"}},
		{"bad type", func(n *heraldv1.Notification) { n.Type = "order shipped" }, []string{"notification.type"}},
		{"type with newline", func(n *heraldv1.Notification) { n.Type = "a\nevent: x" }, []string{"notification.type"}},
		{"long type", func(n *heraldv1.Notification) { n.Type = strings.Repeat("t", 65) }, []string{"notification.type"}},
		{"reserved type reset", func(n *heraldv1.Notification) { n.Type = "reset" }, []string{"notification.type"}},
		{"reserved type token-expired", func(n *heraldv1.Notification) { n.Type = "token-expired" }, []string{"notification.type"}},
		{"reserved type shutdown", func(n *heraldv1.Notification) { n.Type = "shutdown" }, []string{"notification.type"}},
		{"bad category", func(n *heraldv1.Notification) { n.Category = "a/b" }, []string{"notification.category"}},
		{"unknown priority", func(n *heraldv1.Notification) { n.Priority = 42 }, []string{"notification.priority"}},
		{"long key", func(n *heraldv1.Notification) { n.IdempotencyKey = "123456789" }, []string{"notification.idempotency_key"}},
		{"key with control", func(n *heraldv1.Notification) { n.IdempotencyKey = "a\x00b" }, []string{"notification.idempotency_key"}},
		{"expired", func(n *heraldv1.Notification) { n.ExpireTime = timestamppb.New(testNow) }, []string{"notification.expire_time"}},
		{"invalid timestamp", func(n *heraldv1.Notification) { n.ExpireTime = &timestamppb.Timestamp{Seconds: 1 << 62} },
			[]string{"notification.expire_time"}},
		{"everything at once", func(n *heraldv1.Notification) {
			n.Audience = nil
			n.Title = ""
			n.Type = "?"
			n.Priority = -1
		}, []string{"notification.audience", "notification.type", "notification.title", "notification.priority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := valid(func(n *heraldv1.Notification) {
				n.Title = "ok"
				n.Body = ""
				n.Data = nil
				n.IdempotencyKey = "k"
				tt.mod(n)
			})
			got, err := ingest.Validate(n, lim, testNow)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %+v, %v; want a validate.Error", got, err)
			}
			var fields []string
			for _, v := range ve.Violations {
				fields = append(fields, v.Field)
				if v.Description == "" {
					t.Errorf("violation of %s has no description", v.Field)
				}
				if !strings.Contains(ve.Error(), v.Field) {
					t.Errorf("Error() = %q does not mention %s", ve.Error(), v.Field)
				}
			}
			if !reflect.DeepEqual(fields, tt.want) {
				t.Errorf("violated fields = %q, want %q", fields, tt.want)
			}
		})
	}
}

// TestValidateDataAtLimit: data whose JSON is exactly MaxDataBytes long is
// taken; the refusals above include one byte more.
func TestValidateDataAtLimit(t *testing.T) {
	t.Parallel()
	lim := ingest.Limits{MaxTitleBytes: 10, MaxBodyBytes: 20, MaxDataBytes: 30, MaxRecipients: 3, MaxTopics: 2, MaxKeyBytes: 8}
	for _, d := range []map[string]any{
		{"k": strings.Repeat("v", 22)},
		{"a": []any{10, 2, 3, 4, 5, 6, 7, 8}, "b": 1},
	} {
		data, err := structpb.NewStruct(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ingest.Validate(valid(func(n *heraldv1.Notification) {
			n.Title, n.Body, n.IdempotencyKey, n.Data = "ok", "", "k", data
		}), lim, testNow)
		if err != nil {
			t.Fatalf("Validate(%v): %v", d, err)
		}
		if len(got.Data) != lim.MaxDataBytes {
			t.Fatalf("data = %s (%d bytes), want %d bytes", got.Data, len(got.Data), lim.MaxDataBytes)
		}
	}
}

func TestValidateNil(t *testing.T) {
	t.Parallel()
	_, err := ingest.Validate(nil, ingest.Limits{}, testNow)
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Violations[0].Field != "notification" {
		t.Fatalf("Validate(nil) err = %v", err)
	}
}

func TestValidateCapsViolations(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1000)
	_, err := ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{UserIds: ids}, Title: "x"}, ingest.Limits{}, testNow)
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if n := len(ve.Violations); n > 21 {
		t.Errorf("%d violations listed, want at most 21", n)
	}
	if last := ve.Violations[len(ve.Violations)-1]; !strings.Contains(last.Description, "more") {
		t.Errorf("last violation = %+v, want a note about omitted ones", last)
	}
}

func BenchmarkValidate(b *testing.B) {
	n := valid(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ingest.Validate(n, ingest.Limits{}, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateTopicMessages(t *testing.T) {
	t.Parallel()
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{Topics: []string{"ok", "", "a b"}}, Title: "x"}
	_, err := ingest.Validate(n, ingest.Limits{}, testNow)
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validate.Error", err)
	}
	want := []validate.FieldViolation{
		{Field: "notification.audience.topics[1]", Description: "must not be empty"},
		{Field: "notification.audience.topics[2]", Description: "ASCII letters, digits and . _ - / : only, at most 200 bytes"},
	}
	if !reflect.DeepEqual(ve.Violations, want) {
		t.Errorf("violations = %q, want %q", ve.Violations, want)
	}
}

func TestValidateChannelMessages(t *testing.T) {
	t.Parallel()
	n := &heraldv1.Notification{Audience: &heraldv1.Audience{Channels: []string{"ok", "", "a b"}}, Title: "x"}
	_, err := ingest.Validate(n, ingest.Limits{}, testNow)
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validate.Error", err)
	}
	want := []validate.FieldViolation{
		{Field: "notification.audience.channels[1]", Description: "must not be empty"},
		{Field: "notification.audience.channels[2]", Description: "ASCII letters, digits and . _ - / : only, at most 200 bytes"},
	}
	if !reflect.DeepEqual(ve.Violations, want) {
		t.Errorf("violations = %q, want %q", ve.Violations, want)
	}
	_, err = ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{}, Title: "x"}, ingest.Limits{}, testNow)
	if !errors.As(err, &ve) || ve.Violations[0].Description != "at least one user ID, topic or channel is required" {
		t.Errorf("empty audience: %v", err)
	}
	many := make([]string, ingest.DefaultMaxChannels+1)
	for i := range many {
		many[i] = fmt.Sprintf("rooms/%d", i)
	}
	if _, err := ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{Channels: many[1:]}, Title: "x"}, ingest.Limits{}, testNow); err != nil {
		t.Errorf("%d channels: %v", ingest.DefaultMaxChannels, err)
	}
	_, err = ingest.Validate(&heraldv1.Notification{Audience: &heraldv1.Audience{Channels: many}, Title: "x"}, ingest.Limits{}, testNow)
	if !errors.As(err, &ve) || ve.Violations[0].Field != "notification.audience.channels" {
		t.Errorf("%d channels: %v, want a violation of notification.audience.channels", len(many), err)
	}
}
