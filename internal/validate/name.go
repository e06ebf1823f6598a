package validate

import "strings"

// MaxNameLen bounds the names of notifications' types and categories; a
// type becomes the SSE `event:` name.
const MaxNameLen = 64

// CategoryRule describes the names Category accepts.
const CategoryRule = "must be 1 to 64 ASCII letters, digits or . _ - :"

// Category reports whether s is a valid notification category: what a
// notification names, and what users mute.
func Category(s string) bool { return Name(s, ".-_:", MaxNameLen) }

// Name reports whether s is 1 to max bytes of ASCII letters, digits and the
// punctuation in extra. Names are kept to ASCII because they become SSE
// event names, store keys and metric-friendly labels.
func Name(s, extra string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}
