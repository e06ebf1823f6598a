package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestErrorHandlerRetryAfter(t *testing.T) {
	t.Parallel()
	withRetry := func(d time.Duration) error {
		st, err := status.New(codes.ResourceExhausted, "over rate").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantRetry  string
	}{
		{"rounded up", withRetry(1200 * time.Millisecond), http.StatusTooManyRequests, "2"},
		{"whole seconds", withRetry(3 * time.Second), http.StatusTooManyRequests, "3"},
		{"under a second is 1", withRetry(10 * time.Millisecond), http.StatusTooManyRequests, "1"},
		{"no RetryInfo", status.Error(codes.ResourceExhausted, "quota"), http.StatusTooManyRequests, ""},
		{"other code", status.Error(codes.PermissionDenied, "topic"), http.StatusForbidden, ""},
	}
	mux := runtime.NewServeMux()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/notify", nil)
			errorHandler(context.Background(), mux, &runtime.JSONPb{}, w, r, tt.err)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Message == "" || body.Code != int(status.Code(tt.err)) {
				t.Errorf("body %s (%v), want the status JSON", w.Body.Bytes(), err)
			}
		})
	}
}
