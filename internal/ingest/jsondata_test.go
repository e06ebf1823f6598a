package ingest

import (
	"bytes"
	"encoding/json"
	"math"
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
			"big": structpb.NewNumberValue(1e21), "below": structpb.NewNumberValue(999999999999999999999),
			"tiny": structpb.NewNumberValue(1e-7), "small": structpb.NewNumberValue(1e-6),
			"neg": structpb.NewNumberValue(-1.5e300), "zero": structpb.NewNumberValue(math.Copysign(0, -1)),
			"int": structpb.NewNumberValue(1700000000000000000),
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
		if (err == nil) != (werr == nil) {
			t.Fatalf("appendStruct error %v, protojson error %v", err, werr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
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
