package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// reference is what appendStruct replaces: protojson, then compaction.
func reference(s *structpb.Struct) ([]byte, error) {
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func TestAppendStructMatchesProtojson(t *testing.T) {
	list, _ := structpb.NewList([]any{1.0, "two", nil, true, map[string]any{"z": 1.0, "a": []any{}}})
	cases := map[string]*structpb.Struct{
		"scalars": {Fields: map[string]*structpb.Value{
			"b": structpb.NewBoolValue(false), "a": structpb.NewNumberValue(-0.5), "n": structpb.NewNullValue(),
			"s": structpb.NewStringValue("é\"\\\n\r\t\b\f\x00\x1f\x7f<>&\u2028 ok"),
		}},
		"numbers": {Fields: map[string]*structpb.Value{
			"safe": structpb.NewNumberValue(maxSafeInt), "neg": structpb.NewNumberValue(-maxSafeInt),
			"tiny": structpb.NewNumberValue(1e-7), "small": structpb.NewNumberValue(1e-6),
			"frac": structpb.NewNumberValue(-1.5e-300), "zero": structpb.NewNumberValue(math.Copysign(0, -1)),
			"int": structpb.NewNumberValue(1700000000000),
		}},
		"nested": {Fields: map[string]*structpb.Value{
			"list": structpb.NewListValue(list), "obj": structpb.NewStructValue(&structpb.Struct{}),
			"key with \"quote\"": structpb.NewStringValue(""),
		}},
	}
	for name, s := range cases {
		got, err := appendStruct(nil, s, math.MaxInt)
		want, werr := reference(s)
		if err != nil || werr != nil || !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s (%v)", name, got, err, want, werr)
		}
	}
	// Numbers JSON clients cannot hold exactly: protojson writes them, the
	// direct encoder refuses them.
	for _, n := range []float64{1 << 53, -(1 << 53), 1e21, 999999999999999999999, -1.5e300, 12345678901234567890} {
		s := &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(n)}}
		if _, err := appendStruct(nil, s, math.MaxInt); !errors.Is(err, errUnsafeInt) {
			t.Errorf("%g: error %v, want errUnsafeInt", n, err)
		}
	}
	for name, s := range map[string]*structpb.Struct{
		"NaN":           {Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.NaN())}},
		"infinity":      {Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(math.Inf(-1))}},
		"no kind":       {Fields: map[string]*structpb.Value{"x": {}}},
		"bad UTF-8":     {Fields: map[string]*structpb.Value{"x": structpb.NewStringValue("\xff")}},
		"bad UTF-8 key": {Fields: map[string]*structpb.Value{"\xc3": structpb.NewNullValue()}},
	} {
		if _, err := appendStruct(nil, s, math.MaxInt); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := reference(s); err == nil {
			t.Errorf("%s: protojson took it; the two disagree", name)
		}
	}
}

// FuzzAppendStructMatchesProtojson: for any Struct from the wire, the
// direct encoder writes exactly what protojson and json.Compact write, and
// refuses exactly what they refuse.
func FuzzAppendStructMatchesProtojson(f *testing.F) {
	for _, js := range []string{`{}`, `{"a":[1,2.5,"x",null,true,{"b":{}}],"c":"\u0001é"}`, `{"n":1e-7,"m":1e21,"k":-0}`} {
		var s structpb.Struct
		if err := protojson.Unmarshal([]byte(js), &s); err != nil {
			f.Fatal(err)
		}
		b, err := proto.Marshal(&s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s structpb.Struct
		if proto.Unmarshal(in, &s) != nil {
			return
		}
		got, err := appendStruct(nil, &s, math.MaxInt)
		want, werr := reference(&s)
		if errors.Is(err, errUnsafeInt) {
			if !hasUnsafe(&s) {
				t.Fatalf("refused as unsafe, but no number is beyond 2^53-1: %s", want)
			}
			return
		}
		if err == nil && hasUnsafe(&s) {
			t.Fatalf("accepted a number beyond 2^53-1: %s", got)
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("appendStruct error %v, protojson error %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// hasUnsafe reports whether a number of s is beyond ±(2^53-1).
func hasUnsafe(s *structpb.Struct) bool {
	var walk func(v *structpb.Value) bool
	walk = func(v *structpb.Value) bool {
		switch k := v.GetKind().(type) {
		case *structpb.Value_NumberValue:
			return math.Abs(k.NumberValue) > maxSafeInt
		case *structpb.Value_StructValue:
			return hasUnsafe(k.StructValue)
		case *structpb.Value_ListValue:
			return slices.ContainsFunc(k.ListValue.GetValues(), walk)
		}
		return false
	}
	for _, v := range s.GetFields() {
		if walk(v) {
			return true
		}
	}
	return false
}

// FuzzAppendNumber: a number is refused exactly when it is not finite or
// beyond ±(2^53-1); otherwise it reads back as the same float64, and an
// integer is written as its digits, the way every JSON client reads it
// exactly.
func FuzzAppendNumber(f *testing.F) {
	for _, n := range []float64{0, -0.5, 1e-7, maxSafeInt, maxSafeInt + 1, -maxSafeInt - 1, 1e21, 12345678901234567890, math.Inf(1)} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n float64) {
		b, err := appendNumber(nil, n)
		safe := !math.IsNaN(n) && !math.IsInf(n, 0) && math.Abs(n) <= maxSafeInt
		if (err == nil) != safe {
			t.Fatalf("appendNumber(%g) error %v, want refusal %v", n, err, !safe)
		}
		if err != nil {
			return
		}
		back, perr := strconv.ParseFloat(string(b), 64)
		if perr != nil || back != n {
			t.Fatalf("appendNumber(%g) = %s, reads back as %g (%v)", n, b, back, perr)
		}
		if n == math.Trunc(n) && n != 0 && string(b) != strconv.FormatInt(int64(n), 10) {
			t.Fatalf("appendNumber(%g) = %s, want %d", n, b, int64(n))
		}
	})
}

// BenchmarkEncodeData: a typical data object, by the direct encoder and by
// the protojson route it replaced.
func BenchmarkEncodeData(b *testing.B) {
	s, err := structpb.NewStruct(map[string]any{
		"order_id": "ord_8f3a2c", "amount": 129.95, "currency": "EUR", "items": []any{"sku-1", "sku-2"},
		"shipped": true, "carrier": map[string]any{"name": "DHL", "tracking": "1Z999AA10123456784"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := appendStruct(make([]byte, 0, 256), s, math.MaxInt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reference(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
