package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testbin"
	"github.com/heraldhq/herald/internal/testenv"
)

// The README's quick start, run as a newcomer would paste it, against
// bin/herald and bin/heraldctl built from this tree. The commands come from
// README.md itself, from the ```sh blocks between <!-- quickstart:NAME -->
// and <!-- /quickstart -->, so the test breaks when the README drifts; each
// command must match one of quickstartSteps, which says how to run it and
// what it must print.

const (
	stepBudget  = 30 * time.Second // one command, a server's start, a stream's events
	readmePath  = "../../README.md"
	makefileRel = "../../Makefile"
)

// stepKind is how the test runs a quick-start command.
type stepKind int

const (
	stepRun      stepKind = iota // runs to completion; its output must match want
	stepServe                    // a server: started, then waited for until ready
	stepMakeRun                  // `make run`: the Makefile's bin/herald line, served
	stepStream                   // runs until stopped; must print every event sent
	stepSkip                     // not run here (say why in the step)
	stepNotifies                 // like stepRun, and sends one notification
)

type quickstartStep struct {
	match *regexp.Regexp
	kind  stepKind
	want  *regexp.Regexp // stdout of a stepRun/stepNotifies; ready line of a stepStream
}

var quickstartSteps = []quickstartStep{
	{regexp.MustCompile(`^make run\b`), stepMakeRun, nil},
	{regexp.MustCompile(`^make test\b`), stepSkip, nil}, // it is what runs this test
	{regexp.MustCompile(`^bin/herald\b(\s|$)`), stepServe, nil},
	{regexp.MustCompile(`^bin/heraldctl tail\b`), stepStream, regexp.MustCompile(`tail: connected to `)},
	{regexp.MustCompile(`^curl -N\b.*/v1/stream`), stepStream, regexp.MustCompile(`retry: [0-9]+$`)},
	{regexp.MustCompile(`^curl -X POST\b.*/v1/notify`), stepNotifies, regexp.MustCompile(`"id":"[^"]+"`)},
	{regexp.MustCompile(`^bin/heraldctl notify\b`), stepNotifies, regexp.MustCompile(`(?m)^id=\S+ recipients=1$`)},
	{regexp.MustCompile(`^\.bin/grpcurl\b.*NotifyService/Notify$`), stepNotifies, regexp.MustCompile(`"id": "[^"]+"`)},
	{regexp.MustCompile(`^echo '\{.*\}' \| kcat -P\b`), stepNotifies, regexp.MustCompile(`^$`)},
	{regexp.MustCompile(`^install -m 600 /dev/null herald\.env$`), stepRun, regexp.MustCompile(`^$`)},
	{regexp.MustCompile(`^echo "export HERALD_JWT_SECRET=.*openssl rand.*>> herald\.env$`), stepRun, regexp.MustCompile(`^$`)},
	{regexp.MustCompile(`^bin/heraldctl apikey .*--format env >> herald\.env$`), stepRun, regexp.MustCompile(`^$`)},
	{regexp.MustCompile(`^\. \./herald\.env$`), stepRun, regexp.MustCompile(`^$`)},
}

func TestREADMEQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs servers and external tools; not with -short")
	}
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := quickstartBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dev", "production"} {
		if len(blocks[name]) == 0 {
			t.Fatalf("README.md has no <!-- quickstart:%s --> commands", name)
		}
	}
	grpcurl := requireTools(t, "curl", "kcat", "openssl", "grpcurl")["grpcurl"]
	makeRun, err := makeRunCommand(makefileRel)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	bins := builtBinaries(t)
	for _, f := range []struct{ link, target string }{
		{"bin/herald", filepath.Join(bins, "herald")},
		{"bin/heraldctl", filepath.Join(bins, "heraldctl")},
		{".bin/grpcurl", grpcurl},
	} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f.link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(f.target, filepath.Join(dir, f.link)); err != nil {
			t.Fatal(err)
		}
	}

	ports := freePorts(t, 3)
	httpAddr, grpcAddr, kafkaAddr := ports[0], ports[1], ports[2]
	s := &shell{t: t, dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		// Where the servers listen, and where heraldctl looks for them.
		"HERALD_HTTP_ADDR=" + httpAddr,
		"HERALD_GRPC_ADDR=" + grpcAddr,
		"HERALD_KAFKA_EMBEDDED_ADDR=" + kafkaAddr,
		"HERALD_HTTP_SERVER=http://" + httpAddr,
		"HERALD_GRPC_SERVER=" + grpcAddr,
	}, rewrite: strings.NewReplacer(
		"localhost:8080", httpAddr, "127.0.0.1:8080", httpAddr,
		"localhost:9090", grpcAddr, "127.0.0.1:9090", grpcAddr,
		"localhost:9092", kafkaAddr, "127.0.0.1:9092", kafkaAddr,
	), httpAddr: httpAddr, makeRun: makeRun}

	for _, name := range []string{"dev", "production"} {
		t.Run(name, func(t *testing.T) {
			s.t = t
			s.runBlock(blocks[name])
		})
		if t.Failed() {
			return
		}
	}
}

// shell runs quick-start commands in one directory, carrying exported
// variables from each command to the next as a terminal would.
type shell struct {
	t        *testing.T
	dir      string
	env      []string
	rewrite  *strings.Replacer // the README's fixed addresses to free ports
	httpAddr string
	makeRun  string
}

// background is a command left running: a server or a stream. Its output
// is read as it comes, so that it never blocks on a full pipe.
type background struct {
	line   string
	stream bool
	cmd    *exec.Cmd
	waited chan struct{} // closed when the command has ended
	grew   chan struct{} // signalled when a line is added or the output ends
	mu     sync.Mutex
	seen   []string // stdout and stderr, line by line
	ended  bool
}

func (s *shell) runBlock(commands []string) {
	t := s.t
	var bg []*background
	defer func() {
		for _, b := range bg {
			b.stop()
		}
	}()
	sent := 0
	for _, line := range commands {
		step, ok := findStep(line)
		if !ok {
			t.Fatalf("README quick-start command has no step in this test (add one to quickstartSteps):\n%s", line)
		}
		cmdLine := s.rewrite.Replace(line)
		t.Logf("$ %s", cmdLine)
		switch step.kind {
		case stepSkip:
			t.Logf("not run here: %s", line)
		case stepMakeRun, stepServe:
			if step.kind == stepMakeRun {
				cmdLine = s.makeRun
			}
			b := s.start(cmdLine)
			bg = append(bg, b)
			s.waitReady(b)
		case stepStream:
			b := s.start(cmdLine)
			b.stream = true
			bg = append(bg, b)
			if _, ok := b.waitFor(step.want, 1); !ok {
				t.Fatalf("%s\ndid not print %q within %v; it printed:\n%s", line, step.want, stepBudget, b.output())
			}
		case stepRun, stepNotifies:
			out := s.run(cmdLine)
			if !step.want.MatchString(out) {
				t.Fatalf("%s\nprinted %q, want a match of %q", line, out, step.want)
			}
			if step.kind == stepNotifies {
				sent++
			}
		}
	}
	// Every stream opened in this block shows every notification sent in it.
	events := regexp.MustCompile(`"title":"`)
	for _, b := range bg {
		if b.stream {
			if n, ok := b.waitFor(events, sent); !ok {
				t.Errorf("%s\nshowed %d of the %d notifications sent within %v; it printed:\n%s", b.line, n, sent, stepBudget, b.output())
			}
		}
	}
}

func findStep(line string) (quickstartStep, bool) {
	for _, st := range quickstartSteps {
		if st.match.MatchString(line) {
			return st, true
		}
	}
	return quickstartStep{}, false
}

// run runs one command line with bash, as pasted, and returns its stdout.
// Variables it exports are kept for the commands after it.
func (s *shell) run(line string) string {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), stepBudget)
	defer cancel()
	envFile := filepath.Join(t.TempDir(), "env")
	script := "set -eo pipefail\n" + line + "\nenv -0 > " + envFile + "\n"
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = s.dir, s.env, time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s\nfailed: %v\nstdout:\n%s\nstderr:\n%s", line, err, stdout.String(), stderr.String())
	}
	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	s.env = s.env[:0:0]
	for kv := range strings.SplitSeq(strings.TrimSuffix(string(env), "\x00"), "\x00") {
		if !strings.HasPrefix(kv, "_=") && !strings.HasPrefix(kv, "SHLVL=") {
			s.env = append(s.env, kv)
		}
	}
	return strings.TrimSpace(stdout.String())
}

// start runs a command line that does not end by itself; stop ends it.
func (s *shell) start(line string) *background {
	t := s.t
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir, cmd.Env, cmd.WaitDelay = s.dir, s.env, time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	b := &background{line: line, cmd: cmd, waited: make(chan struct{}), grew: make(chan struct{}, 1)}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(b.waited)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			b.add(sc.Text(), false)
		}
		_, _ = io.Copy(io.Discard, pr) // after a line too long for the scanner
		b.add("", true)
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *background) add(line string, end bool) {
	b.mu.Lock()
	if end {
		b.ended = true
	} else {
		b.seen = append(b.seen, line)
	}
	b.mu.Unlock()
	select {
	case b.grew <- struct{}{}:
	default:
	}
}

// stop kills the command and waits for it to end, so that its ports and
// data directory are free for the next server.
func (b *background) stop() {
	_ = b.cmd.Process.Kill()
	<-b.waited // bounded: WaitDelay closes the pipes a second after the kill
}

// waitFor waits until n lines of the output have matched re, within
// stepBudget; it returns how many did.
func (b *background) waitFor(re *regexp.Regexp, n int) (int, bool) {
	timer := time.NewTimer(stepBudget)
	defer timer.Stop()
	for {
		b.mu.Lock()
		count, ended := 0, b.ended
		for _, l := range b.seen {
			if re.MatchString(l) {
				count++
			}
		}
		b.mu.Unlock()
		switch {
		case count >= n:
			return count, true
		case ended:
			return count, false
		}
		select {
		case <-b.grew:
		case <-timer.C:
			return count, false
		}
	}
}

func (b *background) exited() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ended
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.seen, "\n")
}

// waitReady polls the server's /readyz until it answers 200, within
// stepBudget.
func (s *shell) waitReady(b *background) {
	t := s.t
	ctx, cancel := context.WithTimeout(context.Background(), stepBudget)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.httpAddr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if b.exited() {
			t.Fatalf("%s exited before it was ready:\n%s", b.line, b.output())
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s not ready within %v:\n%s", b.line, stepBudget, b.output())
		}
	}
}

// quickstartBlocks returns the commands of each <!-- quickstart:NAME -->
// section of a README: the lines of its ```sh blocks, with comments and
// blank lines dropped and backslash continuations joined.
func quickstartBlocks(readme string) (map[string][]string, error) {
	blocks := map[string][]string{}
	var name string
	inSection, inCode := false, false
	var pending string
	for i, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !inSection:
			if n, ok := strings.CutPrefix(trimmed, "<!-- quickstart:"); ok {
				name, inSection = strings.TrimSuffix(n, " -->"), true
			}
		case !inCode && trimmed == "<!-- /quickstart -->":
			inSection = false
		case !inCode && trimmed == "```sh":
			inCode = true
		case inCode && trimmed == "```":
			if pending != "" {
				return nil, fmt.Errorf("README.md:%d: a continued command ends with its block", i+1)
			}
			inCode = false
		case inCode:
			if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
				continue
			}
			if c, ok := strings.CutSuffix(trimmed, "\\"); ok {
				pending += c
				continue
			}
			cmd := stripComment(pending + trimmed)
			pending = ""
			blocks[name] = append(blocks[name], cmd)
		}
	}
	if inSection || inCode {
		return nil, fmt.Errorf("README.md: quickstart:%s is not closed", name)
	}
	return blocks, nil
}

// stripComment drops a trailing "  # comment", which the README uses to
// explain a command; a '#' inside quotes or a word is kept.
func stripComment(cmd string) string {
	inSingle, inDouble := false, false
	for i, r := range cmd {
		switch {
		case r == '\'' && !inDouble:
			inSingle = !inSingle
		case r == '"' && !inSingle:
			inDouble = !inDouble
		case r == '#' && !inSingle && !inDouble && i > 0 && cmd[i-1] == ' ':
			return strings.TrimSpace(cmd[:i])
		}
	}
	return strings.TrimSpace(cmd)
}

// makeRunCommand returns the bin/herald command of the Makefile's run
// target, so that the test starts the server as `make run` does without
// binding make run's fixed ports.
func makeRunCommand(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	inRun := false
	for line := range strings.Lines(string(b)) {
		switch {
		case strings.HasPrefix(line, "run:"):
			inRun = true
		case inRun && !strings.HasPrefix(line, "\t"):
			inRun = false
		case inRun && strings.HasPrefix(strings.TrimSpace(line), "bin/herald "):
			return strings.TrimSpace(line), nil
		}
	}
	return "", fmt.Errorf("%s: no bin/herald command in the run target", path)
}

// requireTools finds the external commands the quick start uses. Under CI a
// missing one fails the test, naming it; elsewhere the test is skipped
// (internal/testenv).
func requireTools(t *testing.T, names ...string) map[string]string {
	t.Helper()
	dotBin, err := filepath.Abs("../../.bin") // where make tools installs grpcurl
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, name := range names {
		found[name] = testenv.NeedCommand(t, name, "the README quick start runs it; make tools installs grpcurl, .ci/run the Debian packages", dotBin)
	}
	return found
}

// freePorts returns n distinct 127.0.0.1 addresses nothing listens on.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

// bins are herald and heraldctl as `make build` writes them: `make test`
// passes its bin/, a plain `go test` builds them once, outside every test's
// time budget (internal/testbin).
var bins = testbin.New("herald", "heraldctl")

// builtBinaries returns the directory holding both binaries.
func builtBinaries(t *testing.T) string {
	t.Helper()
	p, err := bins.Path("herald")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(p)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := bins.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// TestBinariesVersion checks --version on both built binaries: one line
// from the build information, exit 0, and for herald before the
// configuration is read, so a bad HERALD_* variable does not stop it.
func TestBinariesVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries; not with -short")
	}
	bins := builtBinaries(t)
	for _, tt := range []struct{ bin, arg string }{
		{"herald", "--version"}, {"heraldctl", "--version"}, {"heraldctl", "version"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), stepBudget)
		cmd := exec.CommandContext(ctx, filepath.Join(bins, tt.bin), tt.arg)
		cmd.Env = []string{"HERALD_HEARTBEAT=15", "HERALD_STORE=nope"}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("%s %s: %v (stderr %q)", tt.bin, tt.arg, err, stderr.String())
			continue
		}
		out := stdout.String()
		if !strings.HasPrefix(out, tt.bin+" ") || !strings.Contains(out, " go1.") || strings.Count(out, "\n") != 1 || stderr.Len() != 0 {
			t.Errorf("%s %s printed %q, stderr %q; want one line naming it and its Go version", tt.bin, tt.arg, out, stderr.String())
		}
	}
}

func TestQuickstartBlocks(t *testing.T) {
	t.Parallel()
	const readme = "intro\n```sh\nnot in a section\n```\n" +
		"<!-- quickstart:a -->\n```sh\nmake run   # start\n\n# a comment line\ncurl -d '{\"a\":\"#1\"}' \\\n  localhost:8080/x\n```\ntext\n```js\nnot sh\n```\n<!-- /quickstart -->\n" +
		"<!-- quickstart:b -->\n```sh\necho \"x # y\" >> f   # note\n```\n<!-- /quickstart -->\n"
	got, err := quickstartBlocks(readme)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"a": {"make run", `curl -d '{"a":"#1"}' localhost:8080/x`},
		"b": {`echo "x # y" >> f`},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("quickstartBlocks =\n%q\nwant\n%q", got, want)
	}
	for _, bad := range []string{
		"<!-- quickstart:a -->\n```sh\nmake run\n```\n",                    // section not closed
		"<!-- quickstart:a -->\n```sh\nls \\\n```\n<!-- /quickstart -->\n", // continuation into the fence
	} {
		if _, err := quickstartBlocks(bad); err == nil {
			t.Errorf("quickstartBlocks(%q) succeeded, want an error", bad)
		}
	}
}

func TestMakeRunCommand(t *testing.T) {
	t.Parallel()
	got, err := makeRunCommand(makefileRel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "bin/herald --dev") {
		t.Errorf("make run's command = %q, want a bin/herald --dev line", got)
	}
}
