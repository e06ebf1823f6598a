package ingest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
)

func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"audience":{"user_ids":["alice"]},"title":"Hi"}`))
	f.Add([]byte(`{"audience":{"userIds":["a\n"],"topics":["x/y"]},"title":"T\r\n","body":"data: x\n\n","data":{"k":["\u2028",1e300,{"n":null}]},"type":"a.b","priority":"PRIORITY_HIGH","expireTime":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"audience":{"topics":["t"]},"title":"x","data":{"a":{"b":{"c":{"d":[[[[]]]]}}}},"idempotencyKey":"k"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var n heraldv1.Notification
		if err := protojson.Unmarshal(in, &n); err != nil {
			return
		}
		got, err := ingest.Validate(&n, ingest.Limits{}, testNow)
		if err != nil {
			return
		}
		p := got.Payload()
		if bytes.ContainsAny(p, "\r\n") {
			t.Fatalf("payload has a raw newline: %q", p)
		}
		if !json.Valid(p) {
			t.Fatalf("payload is not JSON: %q", p)
		}
		if got.Data != nil && (got.Data[0] != '{' || !json.Valid(got.Data)) {
			t.Fatalf("data is not a JSON object: %q", got.Data)
		}
		if strings.ContainsAny(got.EventType(), "\r\n ") {
			t.Fatalf("event type %q would break the SSE frame", got.EventType())
		}
	})
}
