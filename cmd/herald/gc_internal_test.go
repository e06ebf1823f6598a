package main

import (
	"runtime/debug"
	"testing"
)

// Not parallel: the collector's pace is the process's.
func TestSetGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, tc := range []struct {
		gogc string
		want int
	}{
		{"", defaultGCPercent},
		{"100", 100}, // the operator's GOGC stands
		{"off", 100},
	} {
		debug.SetGCPercent(100)
		setGCPercent(func(key string) string {
			if key == "GOGC" {
				return tc.gogc
			}
			return ""
		})
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q: percent %d, want %d", tc.gogc, got, tc.want)
		}
	}
}
