package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportMedians: with several runs the table gives each figure's median
// and each failure count's worst run.
func TestReportMedians(t *testing.T) {
	run := func(p50 float64, lost int64) []*result {
		return []*result{
			{Server: "bare", LatencyP50Ms: 1, Acked: 1, Deliveries: 1},
			{Server: "herald", LatencyP50Ms: p50, Lost: lost, Acked: 1, Deliveries: 1},
		}
	}
	var out bytes.Buffer
	cfg := config{Load: loadConfig{Mode: modePerUser, Streams: 1, Callers: 1, Batch: 1}}
	if err := report(&out, cfg, [][]*result{run(5, 0), run(2, 3), run(9, 0)}); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	if !strings.Contains(table, "median of 3 runs") {
		t.Errorf("table does not say it gives medians:\n%s", table)
	}
	for row, want := range map[string]string{"latency p50 (ms)": "1.00 5.00 5.00×", "lost": "0 3"} {
		found := false
		for line := range strings.Lines(table) {
			if f := strings.TrimSpace(line); strings.HasPrefix(f, row+" ") {
				found = true
				if got := strings.Join(strings.Fields(strings.TrimPrefix(f, row)), " "); got != want {
					t.Errorf("row %q = %q, want %q", row, got, want)
				}
			}
		}
		if !found {
			t.Errorf("no row %q in:\n%s", row, table)
		}
	}
}
