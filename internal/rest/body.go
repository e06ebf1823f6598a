package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// limitBody refuses bodies over limit bytes with 413 and a status JSON like
// the gateway's, and bodies that are not JSON with 400 saying where they
// break (checkJSON). The body is read ahead (the gateway decodes it whole
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
			if msg, bad := checkJSON(b); bad {
				writeStatus(w, http.StatusBadRequest, status.New(codes.InvalidArgument, msg))
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

// checkJSON reports why b, a request body, is not JSON, with where: the
// gateway's decoder says only "unexpected EOF" for a cut-off body and names
// no position for a syntax error. A blank body passes: the gateway takes it
// as an empty request. Whatever follows the first value is refused too,
// which the gateway would silently drop.
func checkJSON(b []byte) (string, bool) {
	if json.Valid(b) || len(bytes.TrimSpace(b)) == 0 {
		return "", false
	}
	var se *json.SyntaxError
	if err := json.Unmarshal(b, new(json.RawMessage)); !errors.As(err, &se) {
		return "the request body is not valid JSON", true // not reached: Valid and Unmarshal agree
	}
	if se.Offset >= int64(len(b)) && strings.HasPrefix(se.Error(), "unexpected end of JSON input") {
		return fmt.Sprintf("the request body is not complete JSON: unexpected end of input after %d bytes; send the whole JSON object", len(b)), true
	}
	line, col := position(b, se.Offset)
	return fmt.Sprintf("the request body is not valid JSON: %v at line %d, column %d (byte %d)", se, line, col, se.Offset), true
}

// position is the line and column, from 1, of the byte at which a
// json.SyntaxError with this offset (the bytes read, the bad one included)
// stopped.
func position(b []byte, offset int64) (line, col int) {
	i := int(min(max(offset-1, 0), int64(len(b))))
	start := bytes.LastIndexByte(b[:i], '\n') + 1
	return 1 + bytes.Count(b[:i], []byte("\n")), i - start + 1
}
