package ingest_test

import (
	"errors"
	"strings"
	"testing"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/validate"
)

// TestValidateRefusesControlCharacters: titles, bodies and every name a
// notification carries refuse C0 and C1 control characters, naming the
// field, the code point and where it is; a body keeps its tabs and line
// breaks.
func TestValidateRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		mod   func(*heraldv1.Notification)
		field string
		desc  string // part of the description; "" for any
	}{
		{"NUL in title", func(n *heraldv1.Notification) { n.Title = "a\x00b" }, "notification.title", "U+0000 at byte 1"},
		{"NEL in title", func(n *heraldv1.Notification) { n.Title = "é\u0085" }, "notification.title", "U+0085 at byte 2"},
		{"tab in title", func(n *heraldv1.Notification) { n.Title = "a\tb" }, "notification.title", "U+0009 at byte 1"},
		{"newline in title", func(n *heraldv1.Notification) { n.Title = "a\nevent: x" }, "notification.title", "U+000A"},
		{"DEL in title", func(n *heraldv1.Notification) { n.Title = "a\x7f" }, "notification.title", "U+007F"},
		{"NUL in body", func(n *heraldv1.Notification) { n.Body = "ok\x00" }, "notification.body", "U+0000 at byte 2"},
		{"NEL in body", func(n *heraldv1.Notification) { n.Body = "line\u0085next" }, "notification.body", "U+0085 at byte 4"},
		{"escape in body", func(n *heraldv1.Notification) { n.Body = "\x1b[31mred" }, "notification.body", "U+001B at byte 0"},
		{"CSI in body", func(n *heraldv1.Notification) { n.Body = "\u009b31m" }, "notification.body", "U+009B"},
		{"control in type", func(n *heraldv1.Notification) { n.Type = "a\u0085" }, "notification.type", ""},
		{"control in category", func(n *heraldv1.Notification) { n.Category = "a\x00" }, "notification.category", ""},
		{"control in topic", func(n *heraldv1.Notification) { n.Audience.Topics = []string{"a\x00"} }, "notification.audience.topics[0]", ""},
		{"C1 in key", func(n *heraldv1.Notification) { n.IdempotencyKey = "k\u0085" }, "notification.idempotency_key", ""},
		{"control in user ID", func(n *heraldv1.Notification) { n.Audience.UserIds = []string{"a\u0085"} }, "notification.audience.user_ids[0]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := valid(tt.mod)
			got, err := ingest.Validate(n, ingest.Limits{}, testNow)
			ve, ok := errors.AsType[*validate.Error](err)
			if !ok {
				t.Fatalf("Validate = %+v, %v; want a validate.Error", got, err)
			}
			if len(ve.Violations) != 1 || ve.Violations[0].Field != tt.field || !strings.Contains(ve.Violations[0].Description, tt.desc) {
				t.Fatalf("violations = %+v, want one of %s mentioning %q", ve.Violations, tt.field, tt.desc)
			}
		})
	}
	// Tabs and line breaks stay allowed in a body.
	if _, err := ingest.Validate(valid(func(n *heraldv1.Notification) { n.Body = "a\tb\nc\r\nd" }), ingest.Limits{}, testNow); err != nil {
		t.Errorf("body with tab and line breaks: %v", err)
	}
}
