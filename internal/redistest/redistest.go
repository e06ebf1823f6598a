// Package redistest starts real Redis deployments for tests: a Redis
// Cluster (StartCluster) and a master with replicas watched by three
// Sentinels (StartSentinel). It is imported only by _test.go files.
//
// Every process is a redis-server started without a shell, listening on
// 127.0.0.1 only, with its output in a log file under t.TempDir(); when a
// setup does not come up, the test fails with the tail of those logs. Each
// process is killed (SIGKILL) and waited for when the test that started it
// ends, failed or not, and on Linux also when the test binary dies.
//
// A missing redis-server or redis-cli stops the test as testenv.NeedCommand
// does: it fails under CI and skips elsewhere.
//
// Start-up takes a few seconds, so a package starts one setup in a
// top-level test and runs the tests that share it as its subtests:
//
//	func TestOnCluster(t *testing.T) {
//		c := redistest.StartCluster(t, redistest.ClusterOptions{})
//		rdb := c.Client(t)
//		t.Run("A", func(t *testing.T) { t.Parallel(); … })
//	}
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/internal/testenv"
)

// Where redis-server and redis-cli come from (.ci/run installs both).
const (
	serverFrom = "Debian package redis-server"
	cliFrom    = "Debian package redis-tools"
)

// Bounds of the waits.
const (
	readyTimeout = 10 * time.Second // one process answers
	setupTimeout = 60 * time.Second // a cluster or the sentinels agree
	killTimeout  = 10 * time.Second // a killed process is reaped
	pollEvery    = 50 * time.Millisecond
	logTail      = 20 // lines of each log in a start-up failure
	bindAttempts = 4  // ports tried for one process when another took one
)

// defaultServerArgs are what every data node gets before the caller's
// extra arguments (a later value of an option wins): no persistence, and
// a master that starts a replica's full sync at once instead of waiting
// 5 seconds for more replicas.
// setups lets two setups of a test binary start at a time: a package's
// parallel tests each starting six servers at once, beside the other
// packages' tests, starved a cluster's gossip past its bound on 2 cores.
var setups = make(chan struct{}, 2)

// setupTurn waits for a turn to start a setup; the returned func ends it.
func setupTurn() func() {
	setups <- struct{}{}
	return func() { <-setups }
}

var defaultServerArgs = []string{
	"--bind", "127.0.0.1",
	"--save", "",
	"--appendonly", "no",
	"--repl-diskless-sync-delay", "0",
	"--loglevel", "notice",
}

// proc is one redis-server process.
type proc struct {
	name string // node-16384, sentinel-17001…
	addr string
	log  string // path of its output
	cmd  *exec.Cmd
	done chan struct{} // closed once reaped
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends SIGKILL, through os.Process, which never signals another
// process that was given the PID after this one was reaped.
func (p *proc) signal() {
	_ = p.cmd.Process.Kill() // an error means it exited already
}

// kill sends SIGKILL and waits, bounded, until the process is reaped.
func (p *proc) kill() error {
	p.signal()
	select {
	case <-p.done:
		return nil
	case <-time.After(killTimeout):
		return fmt.Errorf("redistest: %s (pid %d) still running %v after SIGKILL", p.name, p.cmd.Process.Pid, killTimeout)
	}
}

// group is the processes of one setup, killed at the end of its test.
type group struct {
	t      testing.TB
	dir    string
	server string // path of redis-server

	mu    sync.Mutex
	procs []*proc
}

func newGroup(t testing.TB) *group {
	t.Helper()
	server := testenv.NeedCommand(t, "redis-server", serverFrom)
	// TempDir before the Cleanup below, so that its removal runs after
	// every process is reaped (cleanups run last in, first out).
	g := &group{t: t, dir: t.TempDir(), server: server}
	t.Cleanup(g.stop)
	return g
}

func (g *group) stop() {
	g.mu.Lock()
	procs := g.procs
	g.mu.Unlock()
	for _, p := range procs {
		p.signal()
	}
	for _, p := range procs {
		if err := p.kill(); err != nil {
			g.t.Error(err)
		}
	}
}

func (g *group) find(addr string) *proc {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.procs {
		if p.addr == addr {
			return p
		}
	}
	return nil
}

func (g *group) kill(t testing.TB, addr string) {
	t.Helper()
	p := g.find(addr)
	if p == nil {
		t.Fatalf("redistest: no process of this setup listens on %s", addr)
		return
	}
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
}

func (g *group) pid(addr string) int {
	if p := g.find(addr); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// alive lists the addresses of the processes still running, in start order.
func (g *group) alive() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, p := range g.procs {
		if !p.exited() {
			out = append(out, p.addr)
		}
	}
	return out
}

// start runs redis-server with the arguments args returns for a port and
// waits until it answers PING. bus asks for a port whose cluster bus port
// (port+10000) is free too. When the process dies because another took
// its port meanwhile, it tries another one.
func (g *group) start(name string, bus bool, args func(port int) ([]string, error)) *proc {
	g.t.Helper()
	var last *proc
	for range bindAttempts {
		port := freePort(g.t, bus)
		a, err := args(port)
		if err != nil {
			g.t.Fatalf("redistest: %s: %v", name, err)
			return nil
		}
		p := g.spawn(fmt.Sprintf("%s-%d", name, port), "127.0.0.1:"+strconv.Itoa(port), a)
		err = waitFor(readyTimeout, func(ctx context.Context) error {
			if p.exited() {
				return errExited
			}
			return answers(ctx, p.addr, p.cmd.Process.Pid)
		})
		if err == nil {
			return p
		}
		last = p
		if !errors.Is(err, errExited) || !logContains(p.log, "Address already in use") {
			g.fatal(fmt.Sprintf("%s did not answer at %s: %v", p.name, p.addr, err), p)
			return nil
		}
	}
	g.fatal(fmt.Sprintf("%s found no free port in %d attempts", name, bindAttempts), last)
	return nil
}

var errExited = errors.New("the process exited")

func (g *group) spawn(name, addr string, args []string) *proc {
	g.t.Helper()
	logPath := filepath.Join(g.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		g.t.Fatalf("redistest: %v", err)
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(g.server, args...)
	cmd.Dir = g.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("redistest: start %s: %v", name, err)
	}
	p := &proc{name: name, addr: addr, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p
}

// fatal stops the test with msg and the tail of the logs of procs, or of
// every process of the group when procs is empty.
func (g *group) fatal(msg string, procs ...*proc) {
	g.t.Helper()
	if len(procs) == 0 {
		g.mu.Lock()
		procs = append(procs, g.procs...)
		g.mu.Unlock()
	}
	var b strings.Builder
	b.WriteString("redistest: " + msg)
	for _, p := range procs {
		if p == nil {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s (pid %d, %s), last lines of %s:\n%s", p.name, p.cmd.Process.Pid, state(p), p.log, tail(p.log, logTail))
	}
	g.t.Fatal(b.String())
}

func state(p *proc) string {
	if p.exited() {
		return "exited: " + p.cmd.ProcessState.String()
	}
	return "running"
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func logContains(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// Ports come from a range below Linux's default ephemeral ports (32768 and
// up), bus ports included, so that no outgoing connection holds one.
const (
	portLow  = 16000
	portHigh = 22700 // exclusive; +10000 stays below 32768
	busShift = 10000
)

var (
	portsMu sync.Mutex
	taken   = map[int]bool{} // handed out by this process, never reused
)

// freePort returns a port of 127.0.0.1 that nothing listened on a moment
// ago, nor, with bus, on port+10000. Ports are drawn at random so that
// test binaries running side by side rarely try the same one; start
// tries another when one is taken between the check and redis-server's
// bind.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		if taken[p] || taken[p+busShift] || !canListen(p) || bus && !canListen(p+busShift) {
			continue
		}
		taken[p] = true
		if bus {
			taken[p+busShift] = true
		}
		return p
	}
	t.Fatalf("redistest: no free port in %d..%d after 200 tries", portLow, portHigh)
	return 0
}

func canListen(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitFor calls check until it returns nil, at most every pollEvery and
// for at most timeout (so at most timeout/pollEvery+1 times), each call
// with a context ending at the deadline. It returns check's last error,
// at once if that is errExited: a dead process will not come up.
func waitFor(timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var err error
	for range int(timeout/pollEvery) + 1 {
		if err = check(ctx); err == nil || errors.Is(err, errExited) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-tick.C:
		}
	}
	return fmt.Errorf("after %v: %w", timeout, err)
}

// node returns a client of the one server at addr that does not retry, for
// the harness's own checks; the caller closes it.
func node(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:          addr,
		MaxRetries:    -1,
		DialTimeout:   time.Second,
		ReadTimeout:   2 * time.Second,
		WriteTimeout:  2 * time.Second,
		PoolSize:      1,
		DialerRetries: 1,
		Protocol:      2,
	})
}

// answers reports whether the process pid answers at addr: another
// process may have taken the port between freePort and its bind. A
// refused connection is found out first, so that go-redis does not log it.
func answers(ctx context.Context, addr string, pid int) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	conn.Close()
	info, err := do(ctx, addr, "INFO", "server").Text()
	if err != nil {
		return err
	}
	if got := infoField(info, "process_id"); got != strconv.Itoa(pid) {
		return fmt.Errorf("%s is process %s's, not %d's", addr, got, pid)
	}
	return nil
}

// do runs one command on the server at addr.
func do(ctx context.Context, addr string, args ...any) *redis.Cmd {
	c := node(addr)
	defer c.Close()
	return c.Do(ctx, args...)
}

// infoField returns the value of field in the text of an INFO reply.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), field+":"); ok {
			return v
		}
	}
	return ""
}
