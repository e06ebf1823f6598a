package ingest_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/validate"
)

// TestValidateRefusesUnsafeIntegers: a number in data beyond what a
// float64 (and so every JavaScript client) holds exactly is refused, with
// the path to it, instead of reaching clients changed.
func TestValidateRefusesUnsafeIntegers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		field      string // "" means accepted
	}{
		{"beyond 2^64", `{"id":12345678901234567890}`, "notification.data.id"},
		{"2^53+1", `{"id":9007199254740993}`, "notification.data.id"},
		{"2^53", `{"id":9007199254740992}`, "notification.data.id"},
		{"negative", `{"id":-9007199254740993}`, "notification.data.id"},
		{"exponent", `{"n":1e300}`, "notification.data.n"},
		{"nested", `{"order":{"lines":[1,{"sku":18446744073709551615}]}}`, "notification.data.order.lines[1].sku"},
		{"key needing quotes", `{"a b":[99999999999999999]}`, `notification.data["a b"][0]`},
		{"largest safe", `{"id":9007199254740991,"neg":-9007199254740991}`, ""},
		{"fractions", `{"x":0.1,"y":1e-7,"z":123456.789}`, ""},
		{"as a string", `{"id":"12345678901234567890"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var n heraldv1.Notification
			js := `{"audience":{"userIds":["alice"]},"title":"Hi","data":` + tt.data + `}`
			if err := protojson.Unmarshal([]byte(js), &n); err != nil {
				t.Fatal(err)
			}
			got, err := ingest.Validate(&n, ingest.Limits{}, testNow)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ve, ok := errors.AsType[*validate.Error](err)
			if !ok {
				t.Fatalf("Validate = data %s, %v; want a validate.Error", got.Data, err)
			}
			if len(ve.Violations) != 1 || ve.Violations[0].Field != tt.field || !strings.Contains(ve.Violations[0].Description, "send it as a string") {
				t.Fatalf("violations = %+v, want one of %s", ve.Violations, tt.field)
			}
		})
	}
}
