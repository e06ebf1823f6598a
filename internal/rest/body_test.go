package rest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A body that is not JSON gets 400 with the gateway's status JSON, saying
// where it breaks; a blank one reaches the gateway, which takes it as empty.
func TestLimitBodyRefusesBrokenJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string // message; empty: passed on
	}{
		{"complete", `{"title":"Hi"}`, ""},
		{"blank", " \n", ""},
		{"empty", "", ""},
		{"cut off", `{"audience":{"user_ids":["alice"]},"title":"Hi`,
			"the request body is not complete JSON: unexpected end of input after 46 bytes; send the whole JSON object"},
		{"cut off after a comma", `{"title":"Hi",`,
			"the request body is not complete JSON: unexpected end of input after 14 bytes; send the whole JSON object"},
		{"bad character", `{"title":'Hi'}`,
			"the request body is not valid JSON: invalid character '\\'' looking for beginning of value at line 1, column 10 (byte 10)"},
		{"second line", "{\n  \"title\": \"Hi\"\n  \"body\": \"x\"\n}",
			"the request body is not valid JSON: invalid character '\"' after object key:value pair at line 3, column 3 (byte 21)"},
		{"trailing garbage", `{"title":"Hi"} x`,
			"the request body is not valid JSON: invalid character 'x' after top-level value at line 1, column 16 (byte 16)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			passed := false
			h := limitBody(1<<10, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { passed = true }))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/notify", strings.NewReader(tt.body)))
			if tt.want == "" {
				if !passed {
					t.Fatalf("refused with %d %s", w.Code, w.Body)
				}
				return
			}
			if passed || w.Code != http.StatusBadRequest {
				t.Fatalf("passed=%v status=%d, want 400", passed, w.Code)
			}
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
				t.Fatalf("body %s: %v", w.Body, err)
			}
			if st.Code != 3 || st.Message != tt.want {
				t.Errorf("got code %d message %q\nwant code 3 message %q", st.Code, st.Message, tt.want)
			}
		})
	}
}

// checkJSON refuses exactly what is not JSON (a blank body aside), with a
// position inside the body.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":`, "[1,\n2", `"x`, "", " ", "{}\n{}", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, bad := checkJSON(b)
		blank := len(strings.TrimSpace(string(b))) == 0
		if bad == (json.Valid(b) || blank) {
			t.Fatalf("checkJSON(%q) = %q, %v; json.Valid = %v", b, msg, bad, json.Valid(b))
		}
		if bad && !strings.HasPrefix(msg, "the request body is not ") {
			t.Fatalf("checkJSON(%q) message %q", b, msg)
		}
	})
}
