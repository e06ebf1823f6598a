package main_test

import (
	"testing"
	"time"
)

// pollEvery is waitFor's interval.
const pollEvery = 20 * time.Millisecond

// waitFor polls cond every 20 ms until it holds, failing the test with
// what() after d. It is for conditions nothing can notify the test of: a
// child process's state, a scrape, a store read; at most d/20ms+1 polls.
func waitFor(t testing.TB, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for polls := int64(d/pollEvery) + 1; !cond(); polls-- {
		if polls <= 0 || time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what())
		}
		<-tick.C
	}
}
