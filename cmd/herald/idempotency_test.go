package main_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRESTIdempotencyAndData: over REST, a retry under an idempotency key
// gets the first ID; another notification under it is 409 with reason
// IDEMPOTENCY_KEY_REUSED; an integer in data beyond 2^53 is 400 naming its
// path; a NUL in a title is 400 naming the title.
func TestRESTIdempotencyAndData(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	send := func(title, data string) restReply {
		t.Helper()
		return restWithKey(t, s, http.MethodPost, "/v1/notify", testAPIKey,
			fmt.Sprintf(`{"audience":{"user_ids":["idem"]},"title":%q,"idempotency_key":"order-7","data":%s}`, title, data))
	}
	first := send("Shipped", `{"n":1}`)
	if first.status != http.StatusOK {
		t.Fatalf("first: %d %v", first.status, first.body)
	}
	retry := send("Shipped", `{"n":1}`)
	if retry.status != http.StatusOK || retry.body["id"] != first.body["id"] || retry.body["duplicate"] != true {
		t.Fatalf("retry: %d %v, want the duplicate of %v", retry.status, retry.body, first.body["id"])
	}
	other := send("Refunded", `{"n":1}`)
	if other.status != http.StatusConflict || !strings.Contains(fmt.Sprint(other.body["details"]), "IDEMPOTENCY_KEY_REUSED") ||
		!strings.Contains(fmt.Sprint(other.body["details"]), fmt.Sprint(first.body["id"])) {
		t.Fatalf("another notification under the key: %d %v, want 409 IDEMPOTENCY_KEY_REUSED naming %v", other.status, other.body, first.body["id"])
	}
	big := restWithKey(t, s, http.MethodPost, "/v1/notify", testAPIKey,
		`{"audience":{"user_ids":["idem"]},"title":"Big","data":{"order":{"id":12345678901234567890}}}`)
	if big.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(big.body["details"]), "notification.data.order.id") {
		t.Fatalf("data beyond 2^53: %d %v, want 400 naming notification.data.order.id", big.status, big.body)
	}
	nul := restWithKey(t, s, http.MethodPost, "/v1/notify", testAPIKey,
		`{"audience":{"user_ids":["idem"]},"title":"a\u0000b"}`)
	if nul.status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(nul.body["details"]), "U+0000") {
		t.Fatalf("NUL in title: %d %v, want 400 naming U+0000", nul.status, nul.body)
	}
}
