package rest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// limitBody refuses bodies over limit bytes with 413 and a status JSON like
// the gateway's. The body is read ahead (the gateway decodes it whole
// anyway) so that an oversized chunked body is caught too; otherwise the
// gateway would report the cut-off body as a 400 syntax error.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			tooLarge(w, limit)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
			if err != nil {
				writeStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, "cannot read request body"))
				return
			}
			if int64(len(b)) > limit {
				tooLarge(w, limit)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, limit int64) {
	// Close the connection rather than drain an unknown amount of body.
	w.Header().Set("Connection", "close")
	writeStatus(w, http.StatusRequestEntityTooLarge, status.New(codes.ResourceExhausted, fmt.Sprintf("request body larger than %d bytes", limit)))
}

func writeStatus(w http.ResponseWriter, code int, st *status.Status) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(st.Proto())
	if err != nil {
		b = []byte(`{"code":13,"message":"failed to marshal error message","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
