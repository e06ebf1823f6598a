package main_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	prommodel "github.com/prometheus/common/model"
)

// The tests read a running herald's metrics from its /metrics text
// exposition, parsed with expfmt; there is no registry at hand in another
// process for prometheus/testutil.

// metricSamples is one scrape: each sample's value by its series as the text
// format writes it, name{label="value",…}, labels sorted by name and a
// histogram's le or a summary's quantile last; a histogram's buckets, _sum
// and _count are series of their own.
type metricSamples map[string]float64

// scrapeMetrics reads s's /metrics.
func scrapeMetrics(t testing.TB, s *server) metricSamples {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: status %d", req.URL, resp.StatusCode)
	}
	m, err := parseMetrics(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", req.URL, err)
	}
	return m
}

// metricValue returns one series of s's /metrics, such as
// `herald_hub_evictions_total` or `x_total{reason="y"}`; 0 when absent.
func metricValue(t testing.TB, s *server, series string) float64 {
	t.Helper()
	return scrapeMetrics(t, s)[series]
}

// waitMetric polls series until it equals want, at most d; it returns how
// long that took.
func waitMetric(t testing.TB, s *server, series string, want float64, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got float64
	waitFor(t, d, func() bool {
		got = metricValue(t, s, series)
		return got == want
	}, func() string { return fmt.Sprintf("%s = %v, want %v", series, got, want) })
	return time.Since(start)
}

// serverRSS is s's process_resident_memory_bytes.
func serverRSS(t testing.TB, s *server) int64 {
	t.Helper()
	v, ok := scrapeMetrics(t, s)["process_resident_memory_bytes"]
	if !ok {
		t.Fatal("no process_resident_memory_bytes in /metrics")
	}
	return int64(v)
}

// withPrefix returns "series value" for each series starting with prefix,
// sorted.
func (m metricSamples) withPrefix(prefix string) []string {
	var out []string
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k+" "+formatFloat(v))
		}
	}
	slices.Sort(out)
	return out
}

// parseMetrics parses a Prometheus text exposition.
func parseMetrics(r io.Reader) (metricSamples, error) {
	p := expfmt.NewTextParser(prommodel.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	out := make(metricSamples)
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := slices.Clone(m.GetLabel())
			slices.SortFunc(labels, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
			key := func(suffix, last, lastValue string) string {
				var b strings.Builder
				b.WriteString(name + suffix)
				n := 0
				pair := func(k, v string) {
					if n == 0 {
						b.WriteByte('{')
					} else {
						b.WriteByte(',')
					}
					n++
					b.WriteString(k + `="` + labelEscaper.Replace(v) + `"`)
				}
				for _, l := range labels {
					pair(l.GetName(), l.GetValue())
				}
				if last != "" {
					pair(last, lastValue)
				}
				if n > 0 {
					b.WriteByte('}')
				}
				return b.String()
			}
			switch {
			case m.Counter != nil:
				out[key("", "", "")] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key("", "", "")] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[key("", "", "")] = m.GetUntyped().GetValue()
			case m.Summary != nil:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out[key("", "quantile", formatFloat(q.GetQuantile()))] = q.GetValue()
				}
				out[key("_sum", "", "")] = s.GetSampleSum()
				out[key("_count", "", "")] = float64(s.GetSampleCount())
			case m.Histogram != nil:
				h := m.GetHistogram()
				for _, bk := range h.GetBucket() {
					out[key("_bucket", "le", formatFloat(bk.GetUpperBound()))] = float64(bk.GetCumulativeCount())
				}
				out[key("_bucket", "le", "+Inf")] = float64(h.GetSampleCount())
				out[key("_sum", "", "")] = h.GetSampleSum()
				out[key("_count", "", "")] = float64(h.GetSampleCount())
			}
		}
	}
	return out, nil
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// formatFloat writes f as the text format does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
