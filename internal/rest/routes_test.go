package rest_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// httpRules reads the HTTP mapping that the gateway code is generated from:
// path → its methods, sorted.
func httpRules(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../proto/herald/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rule := regexp.MustCompile(`^\s*(get|post|put|patch|delete):\s*(\S+)\s*$`)
	rules := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := rule.FindStringSubmatch(sc.Text()); m != nil {
			// The channel history's template is served as
			// /v1/channels/{channel}/events (see channelEvents).
			path := strings.Replace(m[2], "{channel=**}", "rooms/a/events", 1)
			rules[path] = append(rules[path], strings.ToUpper(m[1]))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rules) < 10 {
		t.Fatalf("found only %d paths in http.yaml", len(rules))
	}
	for p := range rules {
		slices.Sort(rules[p])
	}
	return rules
}

// TestMethodNotAllowed sends every method that a path of the HTTP mapping
// does not serve, and expects 405 with that path's methods in Allow and the
// gateway's JSON error body.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	base := start(t, nil)
	for path, methods := range httpRules(t) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if slices.Contains(methods, m) {
				continue
			}
			t.Run(m+" "+path, func(t *testing.T) {
				t.Parallel()
				req, err := http.NewRequest(m, base+path, strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Api-Key", apiKey)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("status = %d, want 405 (body %s)", resp.StatusCode, b)
				}
				if got, want := resp.Header.Get("Allow"), strings.Join(methods, ", "); got != want {
					t.Errorf("Allow = %q, want %q", got, want)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				var body struct {
					Code    int
					Message string
				}
				if err := json.Unmarshal(b, &body); err != nil || body.Code == 0 || body.Message == "" {
					t.Errorf("body %s is not the error JSON (%v)", b, err)
				}
			})
		}
	}
}

// TestNoGRPCMetadataHeaders checks that a REST answer carries none of the
// gRPC transport's own headers (Grpc-Metadata-Content-Type: application/grpc).
func TestNoGRPCMetadataHeaders(t *testing.T) {
	t.Parallel()
	base := start(t, nil)
	r := post(t, base+"/v1/notify", `{"audience":{"user_ids":["alice"]},"title":"Hi"}`, "X-Api-Key", apiKey)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, body %v", r.status, r.body)
	}
	for k, v := range r.header {
		if strings.HasPrefix(k, "Grpc-") {
			t.Errorf("header %s: %q", k, v)
		}
	}
}
