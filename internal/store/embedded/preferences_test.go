package embedded

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/notify"
	"github.com/heraldhq/herald/internal/store"
)

func TestPrefsCodec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want store.UserPreferences
		err  bool
	}{
		{name: "empty", in: []byte{prefsV1, 0, 0}},
		{name: "both", in: []byte{prefsV1, 2, 1, 'a', 1, 'b', 1, 2, 'c', 'd'},
			want: store.UserPreferences{MutedTopics: []notify.Topic{"a", "b"}, MutedCategories: []string{"cd"}}},
		{name: "unsorted", in: []byte{prefsV1, 2, 1, 'b', 1, 'a', 0}, err: true},
		{name: "repeat", in: []byte{prefsV1, 2, 1, 'a', 1, 'a', 0}, err: true},
		{name: "version", in: []byte{2, 0, 0}, err: true},
		{name: "trailing", in: []byte{prefsV1, 0, 0, 0}, err: true},
		{name: "huge count", in: []byte{prefsV1, 0xff, 0xff, 0xff, 0x0f}, err: true},
		{name: "short", in: []byte{prefsV1, 1, 3, 'a'}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodePrefs(tt.in)
			if tt.err {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("decode = %+v, %v; want errCorrupt", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !slices.Equal(got.MutedTopics, tt.want.MutedTopics) || !slices.Equal(got.MutedCategories, tt.want.MutedCategories) {
				t.Errorf("decode = %+v, want %+v", got, tt.want)
			}
			if enc := encodePrefs(nil, got); !bytes.Equal(enc, tt.in) {
				t.Errorf("encode = %v, want %v", enc, tt.in)
			}
		})
	}
}

// FuzzPrefsCodec checks that whatever decodes encodes back to the same
// bytes: one spelling per value, and no panics on garbage.
func FuzzPrefsCodec(f *testing.F) {
	f.Add(encodePrefs(nil, store.UserPreferences{}))
	f.Add(encodePrefs(nil, store.UserPreferences{MutedTopics: []notify.Topic{"a", "news"}, MutedCategories: []string{"promo"}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodePrefs(in)
		if err != nil {
			return
		}
		if enc := encodePrefs(nil, p); !bytes.Equal(enc, in) {
			t.Fatalf("decode(%v) = %+v encodes to %v", in, p, enc)
		}
	})
}

func TestApplyMutes(t *testing.T) {
	t.Parallel()
	got := applyMutes([]string{"b", "d"}, []string{"c", "a", "c"}, []string{"d", "x"})
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("applyMutes = %v, want %v", got, want)
	}
	if got := applyMutes([]string{"a"}, nil, []string{"a"}); got != nil {
		t.Errorf("applyMutes removing all = %v, want nil", got)
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want []byte }{
		{[]byte("ab"), []byte("ac")},
		{[]byte{'a', 0xff}, []byte("b")},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := prefixEnd(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("prefixEnd(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
