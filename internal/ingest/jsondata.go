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
			return b, err
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
	errInvalidUTF8 = errors.New("a string is not valid UTF-8")
	errTooLarge    = errors.New("longer than allowed")
)

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
				return b, err
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
// decimal, with an exponent below 1e-6 and from 1e21 on.
func appendNumber(b []byte, n float64) ([]byte, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return b, errBadNumber
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
