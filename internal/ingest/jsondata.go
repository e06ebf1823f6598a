package ingest

import (
	"errors"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
)

// appendStruct appends s as compact JSON, object keys in sorted order: the
// bytes protojson.Marshal and json.Compact make of it, written straight
// into one buffer. A notification's data is encoded on every Notify, and
// the reflective encoder and its compaction cost several times as much
// (FuzzAppendStructMatchesProtojson checks the two agree). It gives up with
// errTooLarge once b is longer than max, so an oversized value costs no
// more than max bytes of encoding before it is refused.
func appendStruct(b []byte, s *structpb.Struct, max int) ([]byte, error) {
	fields := s.GetFields()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, k); err != nil {
			return b, err
		}
		b = append(b, ':')
		if b, err = appendValue(b, fields[k], max); err != nil {
			return b, at(err, keyPath(k))
		}
		if len(b) > max {
			return b, errTooLarge
		}
	}
	return append(b, '}'), nil
}

var (
	errNoKind      = errors.New("a value has no kind set")
	errBadNumber   = errors.New("a number is NaN or infinite")
	errUnsafeInt   = errors.New("number beyond ±(2^53-1) would lose precision in JSON clients; send it as a string")
	errInvalidUTF8 = errors.New("a string is not valid UTF-8")
	errTooLarge    = errors.New("longer than allowed")
)

// maxSafeInt is 2^53-1, JavaScript's Number.MAX_SAFE_INTEGER: the largest
// integer below which every integer has its own float64. Data reaches
// clients as JSON, which most of them (browsers first) read into float64,
// and arrives here already as float64 (google.protobuf.Struct holds
// numbers as doubles, over gRPC and once REST or Kafka JSON is parsed).
// A number beyond it is refused rather than passed on: from JSON text,
// 12345678901234567890 would be stored as 12345678901234567000, a
// different ID, and nothing would tell the sender. Every float64 that large
// is an integer, so this refuses no fraction.
const maxSafeInt = 1<<53 - 1

// dataError places an error inside data: path is "" for data itself, or a
// path such as ".order.lines[2]" or `["a b"]`.
type dataError struct {
	path string
	err  error
}

func (e *dataError) Error() string { return "data" + e.path + ": " + e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

// at prefixes err's path with elem as the error returns through a
// container; errTooLarge stays bare, being about the whole.
func at(err error, elem string) error {
	if errors.Is(err, errTooLarge) {
		return err
	}
	if de, ok := err.(*dataError); ok {
		de.path = elem + de.path
		return de
	}
	return &dataError{path: elem, err: err}
}

// keyPath is the path element of an object key: ".key" for identifiers,
// `["key"]` otherwise.
func keyPath(k string) string {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c != '_' && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return "[" + strconv.Quote(k) + "]"
		}
	}
	if k == "" {
		return `[""]`
	}
	return "." + k
}

func appendValue(b []byte, v *structpb.Value, max int) ([]byte, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(b, "null"...), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(b, k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return appendNumber(b, k.NumberValue)
	case *structpb.Value_StringValue:
		return appendJSONString(b, k.StringValue)
	case *structpb.Value_StructValue:
		return appendStruct(b, k.StructValue, max)
	case *structpb.Value_ListValue:
		b = append(b, '[')
		for i, e := range k.ListValue.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, max); err != nil {
				return b, at(err, "["+strconv.Itoa(i)+"]")
			}
			if len(b) > max {
				return b, errTooLarge
			}
		}
		return append(b, ']'), nil
	default:
		return b, errNoKind
	}
}

// appendNumber formats n as encoding/json and protojson do: the shortest
// decimal, with an exponent below 1e-6 (and from 1e21 on, which
// maxSafeInt now excludes). It refuses what JSON cannot carry exactly.
func appendNumber(b []byte, n float64) ([]byte, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return b, errBadNumber
	}
	if n > maxSafeInt || n < -maxSafeInt {
		return b, errUnsafeInt
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, n, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7.
		if m := len(b); m >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
	}
	return b, nil
}

// appendJSONString quotes s, escaping only what JSON requires: quote,
// backslash and control characters, the way protojson does.
func appendJSONString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				return b, errInvalidUTF8
			}
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		i++
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= ' ':
			b = append(b, c)
		case c == '\b':
			b = append(b, `\b`...)
		case c == '\f':
			b = append(b, `\f`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u`...)
			b = append(b, "0000"[1+(bits.Len32(uint32(c))-1)/4:]...)
			b = strconv.AppendUint(b, uint64(c), 16)
		}
	}
	return append(b, '"'), nil
}
