package rest

import (
	"context"
	"math"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// challenge is the WWW-Authenticate value of a 401: the API accepts a
// service key as a bearer credential.
const challenge = `Bearer realm="herald"`

// errorHandler is the gateway's default, with a valid challenge on 401: the
// default puts the status message in WWW-Authenticate, which is not a
// challenge (RFC 9110, section 11.6.1); and with Retry-After on a 429 whose
// status carries a RetryInfo, which the default leaves in the body only.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	switch status.Code(err) {
	case codes.Unauthenticated:
		w = challengeWriter{w}
	case codes.ResourceExhausted:
		if s, ok := retryAfter(err); ok {
			w.Header().Set("Retry-After", s)
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// retryAfter returns the RetryInfo delay of err in whole seconds, rounded up
// so that a client waiting that long finds room.
func retryAfter(err error) (string, bool) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		ri, ok := d.(*errdetails.RetryInfo)
		if !ok || ri.GetRetryDelay() == nil {
			continue
		}
		secs := math.Ceil(ri.GetRetryDelay().AsDuration().Seconds())
		return strconv.FormatInt(int64(max(secs, 1)), 10), true
	}
	return "", false
}

// challengeWriter sets the challenge just before the status line is sent,
// after the default handler has set its own.
type challengeWriter struct{ http.ResponseWriter }

func (c challengeWriter) WriteHeader(code int) {
	c.Header().Set("WWW-Authenticate", challenge)
	c.ResponseWriter.WriteHeader(code)
}
