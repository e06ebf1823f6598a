package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/heraldhq/herald/internal/logbuf"
	"github.com/heraldhq/herald/internal/testenv"
)

// The operations kit: Prometheus rules and a Grafana dashboard in deploy/.
var (
	rulesFile     = filepath.Join(repoRoot, "deploy", "prometheus", "herald-rules.yaml")
	rulesTestFile = filepath.Join(repoRoot, "deploy", "prometheus", "herald-rules.test.yaml")
	dashboardFile = filepath.Join(repoRoot, "deploy", "grafana", "herald-dashboard.json")
)

const prometheusFrom = "Debian package prometheus"

// TestPrometheusRules checks the rule file with promtool and runs its unit
// tests, which make alerts fire on synthetic series.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := testenv.NeedCommand(t, "promtool", prometheusFrom)
	for _, args := range [][]string{
		{"check", "rules", rulesFile},
		// promtool reads the test's rule_files relative to the test file.
		{"test", "rules", rulesTestFile},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusScrapesHerald runs a real Prometheus against a herald that
// has served notifications, a stream and a Kafka message: it scrapes
// /metrics every second and evaluates the rule file, whose every rule must
// evaluate without error, and every query of the Grafana dashboard must run.
func TestPrometheusScrapesHerald(t *testing.T) {
	t.Parallel()
	prometheus := testenv.NeedCommand(t, "prometheus", prometheusFrom)
	promtool := testenv.NeedCommand(t, "promtool", prometheusFrom)
	dash := readDashboard(t)

	s := startServer(t, withArgs("--kafka-embedded", "--kafka-embedded-addr=127.0.0.1:0"))
	prom := startPrometheus(t, prometheus, promtool, s.HTTPAddr)

	// Traffic while Prometheus starts, so that the series exist: a stream
	// that stays open, accepted and refused calls, and a Kafka message.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := s.streamFor(t, "opsuser", "")
	c := s.notifyClient(t)
	for i := range 3 {
		if _, err := notifyUser(ctx, c, "opsuser", fmt.Sprintf("ops %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := notifyUser(ctx, c, "opsuser", ""); err == nil {
		t.Fatal("a notification without a title was accepted")
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(s.KafkaAddr), Topic: "herald.notifications", RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte(`{"audience":{"user_ids":["opsuser"]},"title":"from kafka"}`)}); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for want := 4; want > 0; want-- {
		if _, p, err := st.NextNotification(15 * time.Second); err != nil {
			t.Fatalf("stream: %v (%d notifications still due, last %q)", err, want, p.Title)
		}
	}

	// The Kafka message committed, which sets the lag.
	waitFor(t, 15*time.Second, func() bool {
		return metricValue(t, s, "herald_kafka_messages_committed_total") >= 1
	}, func() string { return "the Kafka message was not committed" })
	trafficDone := float64(time.Now().UnixMilli()) / 1000

	// Scraped at least twice (rate needs two samples), the last time
	// after all that, and up.
	var lastErr error
	waitFor(t, 15*time.Second, func() bool {
		n, err := prom.scalar(`count_over_time(up{job="herald"}[1m])`)
		if err != nil {
			lastErr = err
			return false
		}
		last, err := prom.scalar(`timestamp(up{job="herald"})`)
		lastErr = err
		return err == nil && n >= 2 && last > trafficDone
	}, func() string {
		return fmt.Sprintf("Prometheus did not scrape herald twice: %v\n%s", lastErr, prom.logs.String())
	})
	for query, want := range map[string]float64{`up{job="herald"}`: 1, `herald_ready{job="herald"}`: 1} {
		if v, err := prom.scalar(query); err != nil || v != want {
			t.Errorf("%s = %v (%v), want %v", query, v, err, want)
		}
	}

	scraped := time.Now()

	// Every rule loaded and evaluated since, with no error.
	wantRules := rulesInFile(t)
	var groups []ruleGroup
	waitFor(t, 10*time.Second, func() bool {
		groups, lastErr = prom.rules()
		if lastErr != nil {
			return false
		}
		var n int
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.Health == "unknown" || !r.LastEvaluation.After(scraped) {
					return false
				}
				n++
			}
		}
		return n == len(wantRules)
	}, func() string {
		return fmt.Sprintf("rules not all evaluated (want %d): %v %+v\n%s", len(wantRules), lastErr, groups, prom.logs.String())
	})
	var loaded []string
	for _, g := range groups {
		for _, r := range g.Rules {
			loaded = append(loaded, r.Name)
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("rule %s in group %s: health %q, error %q", r.Name, g.Name, r.Health, r.LastError)
			}
			// Inactive on a healthy node (checked for the two alerts
			// that cannot depend on the machine's speed): their
			// selectors match herald's series and labels.
			if (r.Name == "HeraldDown" || r.Name == "HeraldNotReady") && r.State != "inactive" {
				t.Errorf("alert %s is %s on a healthy node", r.Name, r.State)
			}
		}
	}
	sort.Strings(loaded)
	if !slices.Equal(loaded, wantRules) {
		t.Errorf("Prometheus loaded rules %v, the file has %v", loaded, wantRules)
	}
	// A recording rule carries herald's job and instance.
	if v, err := prom.vector(fmt.Sprintf(`instance:herald_notify_duration_seconds:p99_5m{job="herald", instance=%q}`, s.HTTPAddr)); err != nil || len(v) != 1 {
		t.Errorf("instance:herald_notify_duration_seconds:p99_5m: %v (%v), want one series", v, err)
	}

	// The dashboard's variables find this herald, and every query runs.
	vars := dash.variableNames()
	for _, v := range dash.variables() {
		values, err := prom.labelValues(v.query, vars)
		if err != nil {
			t.Errorf("variable %s (%s): %v", v.name, v.query, err)
			continue
		}
		if want := map[string]string{"job": "herald", "instance": s.HTTPAddr}[v.name]; !slices.Contains(values, want) {
			t.Errorf("variable %s (%s) = %v, want %s among them", v.name, v.query, values, want)
		}
	}
	// Panels whose series this single embedded node has; the others (the
	// Redis bus, rate limits) may answer empty.
	mustHaveData := []string{
		"Open streams by transport", "Notifications/s by outcome", "Notify calls/s by code",
		"Entries written to streams/s", "Notify latency (until durable)", "Store commit latency",
		"Ready nodes", "Kafka messages/s", "Kafka lag by partition", "Kafka fetch-to-commit latency",
		"Go scheduler latency", "Goroutines", "Process CPU", "Process memory",
	}
	for _, p := range dash.panels() {
		series := 0
		for _, expr := range p.exprs {
			q := grafanaExpand(expr, vars)
			if strings.Contains(q, "$") {
				t.Errorf("panel %q: %q still has a variable after expansion", p.title, q)
				continue
			}
			v, err := prom.vector(q)
			if err != nil {
				t.Errorf("panel %q: query %s: %v", p.title, q, err)
			}
			series += len(v)
		}
		if series == 0 && slices.Contains(mustHaveData, p.title) {
			t.Errorf("panel %q: no data from %q", p.title, p.exprs)
		}
	}
	for _, title := range mustHaveData {
		if !slices.ContainsFunc(dash.panels(), func(p dashPanel) bool { return p.title == title }) {
			t.Errorf("the dashboard has no panel %q", title)
		}
	}
}

// prometheusServer is a Prometheus process and its HTTP API.
type prometheusServer struct {
	base string
	logs *logbuf.Buffer
}

// startPrometheus starts prometheus on a free loopback port, scraping
// target's /metrics and evaluating the rule file every second, with its
// storage in a temporary directory; it is stopped when t ends.
func startPrometheus(t *testing.T, bin, promtool, target string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: [%q]
`, rules, target), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "config", config).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	p := &prometheusServer{base: "http://" + addr, logs: new(logbuf.Buffer)}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("prometheus (pid %d) did not stop within 10s of SIGTERM", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, 15*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", p.logs.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func() string { return "prometheus not ready:\n" + p.logs.String() })
	return p
}

// api GETs path from the HTTP API and decodes data from its envelope,
// returning an error for any status other than "success".
func (p *prometheusServer) api(path string, query url.Values, data any) error {
	resp, err := http.Get(p.base + path + "?" + query.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status   string          `json:"status"`
		Error    string          `json:"error"`
		Warnings []string        `json:"warnings"`
		Data     json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("HTTP %d: %w: %s", resp.StatusCode, err, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("status %q: %s", env.Status, env.Error)
	}
	if len(env.Warnings) > 0 {
		return fmt.Errorf("warnings: %v", env.Warnings)
	}
	return json.Unmarshal(env.Data, data)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// vector runs an instant query whose result is a vector.
func (p *prometheusServer) vector(query string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {query}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", data.ResultType)
	}
	return data.Result, nil
}

// scalar runs an instant query that must return one sample, and returns its
// value.
func (p *prometheusServer) scalar(query string) (float64, error) {
	v, err := p.vector(query)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: %d samples, want 1", query, len(v))
	}
	var f float64
	s, _ := v[0].Value[1].(string)
	if _, err := fmt.Sscan(s, &f); err != nil {
		return 0, fmt.Errorf("%s: value %v: %w", query, v[0].Value[1], err)
	}
	return f, nil
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Name           string    `json:"name"`
		Health         string    `json:"health"`
		LastError      string    `json:"lastError"`
		State          string    `json:"state"` // alerts only
		LastEvaluation time.Time `json:"lastEvaluation"`
	} `json:"rules"`
}

func (p *prometheusServer) rules() ([]ruleGroup, error) {
	var data struct {
		Groups []ruleGroup `json:"groups"`
	}
	err := p.api("/api/v1/rules", nil, &data)
	return data.Groups, err
}

// labelValuesQuery is Grafana's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// labelValues answers a Grafana label_values query as Grafana does, through
// /api/v1/label/<label>/values with the selector as match[], in which the
// variables vars match anything.
func (p *prometheusServer) labelValues(query string, vars []string) ([]string, error) {
	m := labelValuesQuery.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("not a label_values query")
	}
	var values []string
	err := p.api("/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {grafanaExpand(m[1], vars)}}, &values)
	return values, err
}

// rulesInFile lists the names of the rules in the rule file, sorted.
func rulesInFile(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- (?:alert|record): (\S+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("no rules found in %s", rulesFile)
	}
	sort.Strings(names)
	return names
}

// dashboard is what the test reads of the Grafana dashboard JSON.
type dashboard struct {
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []jsonPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource any    `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type jsonPanel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource any         `json:"datasource"`
	Panels     []jsonPanel `json:"panels"` // a collapsed row's
	Targets    []struct {
		Expr       string `json:"expr"`
		Datasource any    `json:"datasource"`
	} `json:"targets"`
}

type dashPanel struct {
	title string
	exprs []string
}

type dashVariable struct{ name, query string }

// readDashboard reads the dashboard and checks what does not need a
// Prometheus: every query goes to the ${datasource} variable, a Prometheus
// data source picked when importing, never to a fixed data source UID.
func readDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want 36 or later", d.SchemaVersion)
	}
	wantDS := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	checkDS := func(where string, ds any) {
		if m, ok := ds.(map[string]any); !ok || fmt.Sprint(m) != fmt.Sprint(wantDS) {
			t.Errorf("%s: datasource %v, want %v", where, ds, wantDS)
		}
	}
	var hasDS bool
	for _, v := range d.Templating.List {
		switch {
		case v.Type == "datasource":
			hasDS = v.Name == "datasource" && v.Query == "prometheus"
		default:
			checkDS("variable "+v.Name, v.Datasource)
		}
	}
	if !hasDS {
		t.Error("no datasource variable of type prometheus named datasource")
	}
	for _, p := range d.panels() {
		if len(p.exprs) == 0 {
			t.Errorf("panel %q has no query", p.title)
		}
	}
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			if p.Type != "row" {
				checkDS("panel "+p.Title, p.Datasource)
			}
			for _, tg := range p.Targets {
				checkDS("panel "+p.Title+" query "+tg.Expr, tg.Datasource)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return &d
}

// panels lists the panels that query, rows' included.
func (d *dashboard) panels() []dashPanel {
	var out []dashPanel
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			if p.Type != "row" {
				dp := dashPanel{title: p.Title}
				for _, tg := range p.Targets {
					dp.exprs = append(dp.exprs, tg.Expr)
				}
				out = append(out, dp)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// variables lists the query variables with their label_values queries.
func (d *dashboard) variables() []dashVariable {
	var out []dashVariable
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q := v.Query
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		s, _ := q.(string)
		out = append(out, dashVariable{v.Name, s})
	}
	return out
}

func (d *dashboard) variableNames() []string {
	var out []string
	for _, v := range d.Templating.List {
		if v.Type != "datasource" {
			out = append(out, v.Name)
		}
	}
	return out
}

// grafanaExpand does what Grafana does to a query before sending it, for
// "All" selected: every variable in vars matches any value, and the
// intervals are a minute.
func grafanaExpand(expr string, vars []string) string {
	pairs := []string{"$__rate_interval", "1m", "${__rate_interval}", "1m", "$__interval", "1m", "${__interval}", "1m", "$__range", "1h", "${__range}", "1h"}
	// Longest names first, so that $instance is not read as $in…
	vars = slices.Clone(vars)
	sort.Slice(vars, func(i, j int) bool { return len(vars[i]) > len(vars[j]) })
	for _, v := range vars {
		pairs = append(pairs, "${"+v+"}", ".+", "$"+v, ".+")
	}
	return strings.NewReplacer(pairs...).Replace(expr)
}
