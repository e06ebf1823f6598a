package rest

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// challenge is the WWW-Authenticate value of a 401: the API accepts a
// service key as a bearer credential.
const challenge = `Bearer realm="herald"`

// errorHandler is the gateway's default, with a valid challenge on 401: the
// default puts the status message in WWW-Authenticate, which is not a
// challenge (RFC 9110, section 11.6.1).
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.Unauthenticated {
		w = challengeWriter{w}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// challengeWriter sets the challenge just before the status line is sent,
// after the default handler has set its own.
type challengeWriter struct{ http.ResponseWriter }

func (c challengeWriter) WriteHeader(code int) {
	c.Header().Set("WWW-Authenticate", challenge)
	c.ResponseWriter.WriteHeader(code)
}
