package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	heraldv1 "github.com/heraldhq/herald/gen/herald/v1"
	"github.com/heraldhq/herald/internal/ingest"
	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/validate"
)

// FuzzValidateProto feeds Validate what gRPC callers and Kafka producers of
// protobuf send: arbitrary wire bytes. Whatever it accepts keeps every
// promise the rest of the flow relies on.
func FuzzValidateProto(f *testing.F) {
	for _, js := range []string{
		`{"audience":{"userIds":["alice"]},"title":"Hi"}`,
		`{"audience":{"userIds":["a","a","b"],"topics":["x/y","x/y"]},"title":"T","body":"b\n","data":{"k":[1,{"n":null}]},"type":"a.b","category":"c","priority":"PRIORITY_HIGH","idempotencyKey":"k","expireTime":"2030-01-01T00:00:00Z"}`,
		`{"audience":{"topics":["t"]},"title":"x","data":{"a":{"b":{"c":[[[]]]}}}}`,
		`{"audience":{"channels":["rooms/dev","rooms/dev"]},"title":"x"}`,
	} {
		var n heraldv1.Notification
		if err := protojson.Unmarshal([]byte(js), &n); err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(&n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Add([]byte{0x3a, 0x00, 0x38, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		var n heraldv1.Notification
		if err := proto.Unmarshal(in, &n); err != nil {
			return
		}
		got, err := ingest.Validate(&n, ingest.Limits{}, testNow)
		if err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Validate error %T %v, want a *validate.Error", err, err)
			}
			return
		}
		checkAccepted(t, got)
	})
}

// checkAccepted checks what Validate promises of a notification it
// accepted.
func checkAccepted(t *testing.T, got *notify.Notification) {
	t.Helper()
	if len(got.Users) == 0 && len(got.Topics) == 0 && len(got.Channels) == 0 {
		t.Fatal("accepted without an audience")
	}
	users := map[notify.UserID]bool{}
	for _, u := range got.Users {
		if _, err := notify.ParseUserID(string(u)); err != nil || users[u] {
			t.Fatalf("user %q: %v (repeated %v)", u, err, users[u])
		}
		users[u] = true
	}
	topics := map[notify.Topic]bool{}
	for _, tp := range got.Topics {
		if _, err := notify.ParseTopic(string(tp)); err != nil || topics[tp] {
			t.Fatalf("topic %q: %v (repeated %v)", tp, err, topics[tp])
		}
		topics[tp] = true
	}
	channels := map[notify.Channel]bool{}
	for _, c := range got.Channels {
		if _, err := notify.ParseChannel(string(c)); err != nil || channels[c] {
			t.Fatalf("channel %q: %v (repeated %v)", c, err, channels[c])
		}
		channels[c] = true
	}
	if len(got.Title) > ingest.DefaultMaxTitleBytes || !utf8.ValidString(got.Title) {
		t.Fatalf("title %q", got.Title)
	}
	if len(got.Body) > ingest.DefaultMaxBodyBytes || !utf8.ValidString(got.Body) {
		t.Fatalf("body of %d bytes", len(got.Body))
	}
	for _, r := range got.Title + got.Body {
		if unicode.IsControl(r) && !strings.ContainsRune("\t\n\r", r) {
			t.Fatalf("control character %U in title %q or body %q", r, got.Title, got.Body)
		}
	}
	for _, r := range got.Title {
		if unicode.IsControl(r) {
			t.Fatalf("control character %U in title %q", r, got.Title)
		}
	}
	if len(got.IdempotencyKey) > ingest.DefaultMaxKeyBytes || !utf8.ValidString(got.IdempotencyKey) {
		t.Fatalf("idempotency key %q", got.IdempotencyKey)
	}
	if got.Data != nil && (len(got.Data) > ingest.DefaultMaxDataBytes || got.Data[0] != '{' || !json.Valid(got.Data)) {
		t.Fatalf("data %q", got.Data)
	}
	p := got.Payload()
	if bytes.ContainsAny(p, "\r\n") || !json.Valid(p) {
		t.Fatalf("payload %q", p)
	}
	if !got.ExpireTime.IsZero() && !got.ExpireTime.After(testNow) {
		t.Fatalf("expire time %v is not in the future", got.ExpireTime)
	}
}
