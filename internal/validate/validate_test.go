package validate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/validate"
)

func TestViolationsEmpty(t *testing.T) {
	t.Parallel()
	var v validate.Violations
	if v.Any() || v.Err() != nil {
		t.Errorf("empty collector: Any = %v, Err = %v; want false, nil", v.Any(), v.Err())
	}
}

func TestViolationsErr(t *testing.T) {
	t.Parallel()
	var v validate.Violations
	v.Add("notification.title", "required")
	v.Add("notification.audience.user_ids[3]", "at most %d bytes", 256)
	if !v.Any() {
		t.Fatal("Any = false after Add")
	}
	ve, ok := errors.AsType[*validate.Error](v.Err())
	if !ok {
		t.Fatalf("Err = %v, want *validate.Error", v.Err())
	}
	want := []validate.FieldViolation{
		{Field: "notification.title", Description: "required"},
		{Field: "notification.audience.user_ids[3]", Description: "at most 256 bytes"},
	}
	if fmt.Sprint(ve.Violations) != fmt.Sprint(want) {
		t.Errorf("violations = %q, want %q", ve.Violations, want)
	}
	const wantMsg = "invalid notification: notification.title: required; notification.audience.user_ids[3]: at most 256 bytes"
	if got := ve.Error(); got != wantMsg {
		t.Errorf("Error() = %q, want %q", got, wantMsg)
	}
}

// Past twenty violations, the rest are counted in one last entry, so that
// the list fits the trailers clients accept.
func TestViolationsCapped(t *testing.T) {
	t.Parallel()
	var v validate.Violations
	for i := range 25 {
		v.Add(fmt.Sprintf("ids[%d]", i), "bad")
	}
	ve, _ := errors.AsType[*validate.Error](v.Err())
	if ve == nil || len(ve.Violations) != 21 {
		t.Fatalf("Err = %v, want 20 violations and a note", v.Err())
	}
	last := ve.Violations[20]
	if last.Field != "ids[19]" || last.Description != "and 5 more violations not listed" {
		t.Errorf("last violation = %+v, want the count of the omitted five", last)
	}
}

func TestCategory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"word", "orders", true},
		{"punctuation", "billing.eu_1-a:b", true},
		{"longest", strings.Repeat("a", validate.MaxNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", validate.MaxNameLen+1), false},
		{"slash", "a/b", false},
		{"space", "a b", false},
		{"non-ASCII", "caf\u00e9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validate.Category(tt.in); got != tt.want {
				t.Errorf("Category(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	if !strings.Contains(validate.CategoryRule, fmt.Sprint(validate.MaxNameLen)) {
		t.Errorf("CategoryRule %q does not state MaxNameLen %d", validate.CategoryRule, validate.MaxNameLen)
	}
}
