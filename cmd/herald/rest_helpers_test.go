package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// restDo sends a request with a JSON content type and the given headers to
// s and returns the response's header, status and body; it fails the test
// when no response comes within 10s.
func restDo(t testing.TB, s *server, method, path string, headers map[string]string, body io.Reader) (http.Header, int, []byte) {
	t.Helper()
	return restDoAt(t, s.URL(""), method, path, headers, body)
}

// restDoAt is restDo against the server at baseURL (one behind a proxy, say).
func restDoAt(t testing.TB, baseURL, method, path string, headers map[string]string, body io.Reader) (http.Header, int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header, resp.StatusCode, b
}

// restCall sends body as JSON with the given headers and decodes a 200
// response into out; it returns the status and the raw body.
func restCall(t testing.TB, s *server, method, path string, headers map[string]string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	_, code, b := restDo(t, s, method, path, headers, rd)
	if out != nil && code == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return code, b
}

// bearerFor is the Authorization header of user's token.
func bearerFor(t testing.TB, user string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token(t, user)}
}

// restReply is an HTTP reply with its JSON body.
type restReply struct {
	status int
	header http.Header
	body   map[string]any
}

// restWithKey sends a raw JSON body (or none) with the API key in X-Api-Key
// and fails the test unless the reply is JSON.
func restWithKey(t testing.TB, s *server, method, path, key, body string) restReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	h, code, b := restDo(t, s, method, path, map[string]string{"X-Api-Key": key}, rd)
	r := restReply{status: code, header: h}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, code, b)
	}
	return r
}

// notifyBody is the JSON of a notification titled title to users.
func notifyBody(title string, users ...string) string {
	b, _ := json.Marshal(map[string]any{"audience": map[string]any{"user_ids": users}, "title": title})
	return string(b)
}

// restNotifyAt posts body to baseURL's POST /v1/notify with the test API
// key and returns the status and the response body; err is the transport's.
// It needs no testing.TB, for callers in goroutines of their own.
func restNotifyAt(ctx context.Context, c *http.Client, baseURL, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/notify", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// restNotify posts body to baseURL's POST /v1/notify with the test API key
// and fails unless it is answered 200.
func restNotify(ctx context.Context, baseURL, body string) error {
	code, b, err := restNotifyAt(ctx, http.DefaultClient, baseURL, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("POST /v1/notify: %d %s", code, b)
	}
	return nil
}

// httpStatus is the status of GET url, whose body is logged unless 200.
func httpStatus(t testing.TB, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Logf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return resp.StatusCode
}
