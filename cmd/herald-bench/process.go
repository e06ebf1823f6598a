package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/auth"
)

// child is a server process the tool started: herald or the bare server.
type child struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	HTTPAddr string
	GRPCAddr string

	mu   sync.Mutex
	tail []string // the last lines it printed, for error messages
}

// startChild starts cmd and waits, at most 30 s, for the JSON line whose
// msg is startedMsg on the stream named by fromStderr, which carries the
// listen addresses (as herald's "herald started" log line does).
func startChild(cmd *exec.Cmd, startedMsg string, fromStderr bool) (*child, error) {
	c := &child{cmd: cmd, exited: make(chan struct{})}
	var (
		pipe io.ReadCloser
		err  error
	)
	if fromStderr {
		pipe, err = cmd.StderrPipe()
	} else {
		pipe, err = cmd.StdoutPipe()
	}
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	type addrs struct{ http, grpc string }
	started := make(chan addrs, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > 20 {
				c.tail = c.tail[1:]
			}
			c.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http_addr"`
				GRPC string `json:"grpc_addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == startedMsg {
				select {
				case started <- addrs{rec.HTTP, rec.GRPC}:
				default:
				}
			}
		}
		// Drain whatever is left so the child never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, pipe)
		_ = cmd.Wait()
		close(c.exited)
	}()
	select {
	case a := <-started:
		c.HTTPAddr, c.GRPCAddr = a.http, a.grpc
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("%s exited before starting:\n%s", cmd.Path, c.output())
	case <-time.After(30 * time.Second):
		c.Stop()
		return nil, fmt.Errorf("%s did not start within 30s:\n%s", cmd.Path, c.output())
	}
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// Stop ends the process with SIGTERM, and SIGKILL if it is still there
// after 10 s.
func (c *child) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return
	case <-time.After(10 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// heraldProcess is a herald the tool started itself, with fresh
// credentials and data directory.
type heraldProcess struct {
	*child
	Secret, APIKey string
	dataDir        string
}

// startHerald starts bin on free 127.0.0.1 ports with a temporary data
// directory, a random JWT secret and API key, and extra flags.
// heralds are the nodes of a cluster the tool started, sharing
// credentials.
type heralds struct {
	nodes          []*heraldProcess
	Secret, APIKey string
}

// startHeralds starts n nodes of bin with the same credentials and extra
// flags (which must make them share a store for n > 1).
func startHeralds(bin string, extra []string, n int) (*heralds, error) {
	secret, key := randomHex(24), "hk_bench_"+randomHex(16)
	hs := &heralds{Secret: secret, APIKey: key}
	for range max(n, 1) {
		h, err := startHerald(bin, extra, secret, key)
		if err != nil {
			hs.Stop()
			return nil, err
		}
		hs.nodes = append(hs.nodes, h)
	}
	return hs, nil
}

func (hs *heralds) Stop() {
	for _, h := range hs.nodes {
		h.Stop()
	}
}

func (hs *heralds) HTTPAddrs() []string {
	out := make([]string, len(hs.nodes))
	for i, h := range hs.nodes {
		out[i] = h.HTTPAddr
	}
	return out
}

func (hs *heralds) GRPCAddrs() []string {
	out := make([]string, len(hs.nodes))
	for i, h := range hs.nodes {
		out[i] = h.GRPCAddr
	}
	return out
}

func startHerald(bin string, extra []string, secret, key string) (*heraldProcess, error) {
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--data-dir=" + dir,
		"--jwt-secret=" + secret,
		"--api-keys=bench=" + auth.HashAPIKey(key),
		"--http-addr=127.0.0.1:0",
		"--grpc-addr=127.0.0.1:0",
		"--log-format=json",
	}, extra...)
	cmd := exec.Command(bin, args...)
	// No HERALD_* from the caller's environment leaks in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	c, err := startChild(cmd, "herald started", true)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &heraldProcess{child: c, Secret: secret, APIKey: key, dataDir: dir}, nil
}

func (h *heraldProcess) Stop() {
	h.child.Stop()
	os.RemoveAll(h.dataDir)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// procStats are a server's own process figures from its /metrics.
type procStats struct {
	RSS float64 // bytes
	CPU float64 // seconds, user and system
	// BusDropped is herald_bus_dropped_entries_total (cluster mode): live
	// entries the bus did not carry to other nodes.
	BusDropped float64
}

// scrapeAll sums the figures of every node.
func scrapeAll(ctx context.Context, addrs []string) (procStats, error) {
	var sum procStats
	for _, a := range addrs {
		st, err := scrape(ctx, a)
		if err != nil {
			return procStats{}, err
		}
		sum.RSS += st.RSS
		sum.CPU += st.CPU
		sum.BusDropped += st.BusDropped
	}
	return sum, nil
}

// scrape reads process_resident_memory_bytes and process_cpu_seconds_total
// from http://addr/metrics.
func scrape(ctx context.Context, addr string) (procStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return procStats{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return procStats{}, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procStats{}, fmt.Errorf("metrics: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return procStats{}, fmt.Errorf("metrics: %w", err)
	}
	var st procStats
	var haveRSS, haveCPU bool
	for line := range bytes.Lines(body) {
		name, value, ok := strings.Cut(strings.TrimSpace(string(line)), " ")
		if !ok {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			st.RSS, err = strconv.ParseFloat(value, 64)
			haveRSS = err == nil
		case "process_cpu_seconds_total":
			st.CPU, err = strconv.ParseFloat(value, 64)
			haveCPU = err == nil
		case "herald_bus_dropped_entries_total":
			st.BusDropped, _ = strconv.ParseFloat(value, 64)
		}
	}
	if !haveRSS || !haveCPU {
		return procStats{}, fmt.Errorf("metrics: no process_resident_memory_bytes or process_cpu_seconds_total at %s", addr)
	}
	return st, nil
}

// selfCPU is the load tool's own CPU time so far, to show whether the tool
// rather than the server was the limit.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
