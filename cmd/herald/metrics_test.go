package main_test

import (
	"strings"
	"testing"
)

// TestMetricsRuntimeAndProcess: /metrics carries the figures the load tool
// and operators read off a node: process CPU and memory, the Go heap, and
// the scheduler's latency histogram, which shows a node waiting for CPU.
func TestMetricsRuntimeAndProcess(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	m := scrapeMetrics(t, s)
	for _, name := range []string{
		"process_cpu_seconds_total",
		"process_resident_memory_bytes",
		"go_goroutines",
		"go_memstats_heap_inuse_bytes",
		"go_sched_latencies_seconds_count",
		`go_sched_latencies_seconds_bucket{le="+Inf"}`,
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	var buckets int
	for k := range m {
		if strings.HasPrefix(k, "go_sched_latencies_seconds_bucket{") {
			buckets++
		}
	}
	if buckets < 2 {
		t.Errorf("go_sched_latencies_seconds has %d buckets, want a histogram", buckets)
	}
}
