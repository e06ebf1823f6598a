package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// config is the command line.
type config struct {
	Load loadConfig

	HTTPAddr  string // herald's HTTP address (SSE and /metrics)
	GRPCAddr  string
	Secret    string
	APIKey    string
	GRPCConns int
	// Notify is how notifications reach herald: "grpc" (NotifyService) or
	// "rest" (POST /v1/notify).
	Notify string

	HeraldBin  string   // start this herald instead of using a running one
	HeraldArgs []string // extra flags for it
	// HeraldNodes is how many nodes of HeraldBin to start (cluster mode).
	HeraldNodes int
	// CompareBin is an older herald build run before HeraldBin in every
	// run, with the same flags, so that each figure has a before/after
	// ratio from one run.
	CompareBin string
	Calibrate  bool
	// BareNotify is how notifications reach the bare server: "http" (JSON
	// to POST /notify) or "grpc" (herald's own NotifyService calls).
	BareNotify string
	Smoke      bool
	JSON       bool
	// Runs repeats the whole measurement (bare, then herald) and reports
	// each figure's median over the runs.
	Runs int
	// CPUProfile, when set, is where the tool writes its own CPU profile,
	// to tell whether the tool or the server limits a figure.
	CPUProfile string

	// bareCmd builds the command that runs the bare server with args;
	// tests replace it, since their binary is not herald-bench.
	bareCmd func(args []string) (*exec.Cmd, error)
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("herald-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: herald-bench [flags]\n       herald-bench serve-bare [--addr 127.0.0.1:0] [--grpc-addr 127.0.0.1:0]\n\n")
		fmt.Fprintf(stderr, "Opens SSE streams against herald, sends notifications over gRPC or REST and reports\nthroughput, latency, loss and the server's memory and CPU. See BENCHMARKS.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	l := &c.Load
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "herald's HTTP address, host:port (streams and /metrics)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", "", "herald's gRPC address, host:port")
	fs.StringVar(&c.Secret, "jwt-secret", os.Getenv("HERALD_JWT_SECRET"), "herald's HS256 secret, to mint user tokens (default $HERALD_JWT_SECRET)")
	fs.StringVar(&c.APIKey, "api-key", os.Getenv("HERALD_API_KEY"), "service API key for Notify and Subscribe (default $HERALD_API_KEY)")
	fs.IntVar(&c.GRPCConns, "grpc-conns", 1, "gRPC connections the callers share")
	fs.StringVar(&c.Notify, "notify", notifyGRPC, "how herald gets notifications: grpc (NotifyService calls over --grpc-conns connections) or rest (POST /v1/notify as JSON, one keep-alive connection per caller)")
	fs.StringVar(&c.HeraldBin, "herald-bin", "", "start this herald binary on free 127.0.0.1 ports with a temporary data directory and fresh credentials, instead of using --http-addr/--grpc-addr")
	fs.IntVar(&c.HeraldNodes, "herald-nodes", 1, "with --herald-bin, start this many nodes sharing a Redis store (give --herald-arg=--store=redis and its Redis flags); streams and calls are spread over them")
	fs.Var((*stringList)(&c.HeraldArgs), "herald-arg", "extra flag for the herald that --herald-bin starts (repeatable)")
	fs.StringVar(&c.CompareBin, "compare-bin", "", "also start this herald binary (an older build, say), with the same flags, before --herald-bin in each run, and report the ratio of --herald-bin's figures to its; use --runs 3 or more for medians of alternating runs")
	fs.BoolVar(&c.Calibrate, "calibrate", false, "also run the same load against a bare net/http SSE server started by the tool, and report ratios")
	fs.StringVar(&c.BareNotify, "bare-notify", bareNotifyHTTP, "with --calibrate, how the bare server gets notifications: http (JSON over HTTP/1.1) or grpc (the same NotifyService calls herald gets, served by grpc-go)")
	fs.BoolVar(&c.Smoke, "smoke", false, "smoke test: 1,000 streams, 3 s of per-user load; fails on any lost or duplicated event")
	fs.BoolVar(&c.JSON, "json", false, "print the results as JSON instead of a table")
	fs.IntVar(&c.Runs, "runs", 1, "repeat the measurement (bare, then herald, each on a fresh server) this many times and report each figure's median")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write the load tool's own CPU profile to this file")

	fs.IntVar(&l.Streams, "streams", 1000, "SSE streams to open, one user each")
	fs.IntVar(&l.ConnectConcurrency, "connect-concurrency", 64, "streams being connected at once")
	fs.DurationVar(&l.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on one stream's connect")
	fs.IntVar(&l.SourceIPs, "source-ips", 8, "spread streams over source addresses 127.0.0.2 … 127.0.0.(1+N), so that ephemeral ports do not run out (0: let the kernel choose)")
	fs.StringVar(&l.Mode, "mode", modePerUser, "load: per-user (each notification to one random user), topic (one topic every user subscribes to), channel (every stream listens to one channel, with ?channels= and a token claiming it, and the load publishes to it), reconnect (per-user while streams drop and resume with Last-Event-ID), storm (notifications to every user in turn while, once, every stream drops within --storm-window and resumes with Last-Event-ID)")
	fs.Float64Var(&l.Rate, "rate", 0, "notifications per second (0: as fast as acknowledged)")
	fs.IntVar(&l.Callers, "callers", 16, "concurrent notify callers")
	fs.IntVar(&l.Batch, "batch", 1, "notifications per call; more than 1 uses NotifyBatch (herald's --max-batch bounds it)")
	fs.DurationVar(&l.Duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&l.Settle, "settle", 2*time.Second, "idle time after connecting, before the server's memory is read")
	fs.DurationVar(&l.Drain, "drain", 10*time.Second, "bound on waiting for acknowledged events after sending stops; what has not arrived by then is lost")
	fs.DurationVar(&l.ReconnectEvery, "reconnect-every", 2*time.Second, "reconnect mode: mean time between a stream's drops")
	fs.DurationVar(&l.StormAt, "storm-at", 0, "storm mode: when, after sending starts, every stream drops (default a third of --duration)")
	fs.DurationVar(&l.StormWindow, "storm-window", time.Second, "storm mode: the drops are spread over this window")
	fs.IntVar(&l.TopicOffline, "topic-offline", 0, "topic mode: also subscribe this many users who have no stream, so that each notification is stored for them too (a fan-out beyond the open streams)")
	fs.DurationVar(&l.ReconnectGap, "reconnect-gap", 100*time.Millisecond, "reconnect mode: time a dropped stream stays away")
	fs.BoolVar(&l.ToolGC, "tool-gc", false, "let the tool's own garbage collector run while it sends and drains (by default it is paused then, with a 4 GiB backstop, so that its collections do not add to the latency it measures)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Smoke {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("streams", func() { l.Streams = 1000 })
		def("mode", func() { l.Mode = modePerUser })
		def("rate", func() { l.Rate = 2000 })
		def("duration", func() { l.Duration = 3 * time.Second })
		def("settle", func() { l.Settle = 500 * time.Millisecond })
		def("drain", func() { l.Drain = 5 * time.Second })
	}
	return c, c.validate()
}

func (c *config) validate() error {
	l := &c.Load
	switch {
	case l.Mode != modePerUser && l.Mode != modeTopic && l.Mode != modeChannel && l.Mode != modeReconnect && l.Mode != modeStorm:
		return fmt.Errorf("--mode must be per-user, topic, channel, reconnect or storm, not %q", l.Mode)
	case l.Mode == modeStorm && (l.StormWindow <= 0 || l.StormAt < 0):
		return fmt.Errorf("--storm-window must be positive and --storm-at not negative")
	case c.Notify != notifyGRPC && c.Notify != notifyREST:
		return fmt.Errorf("--notify must be grpc or rest, not %q", c.Notify)
	case c.BareNotify != bareNotifyHTTP && c.BareNotify != bareNotifyGRPC:
		return fmt.Errorf("--bare-notify must be http or grpc, not %q", c.BareNotify)
	case c.BareNotify == bareNotifyGRPC && !c.Calibrate:
		return fmt.Errorf("--bare-notify grpc needs --calibrate")
	case c.CompareBin != "" && (c.HeraldBin == "" || c.Calibrate):
		return fmt.Errorf("--compare-bin needs --herald-bin and cannot go with --calibrate (the ratio is of two servers)")
	case c.Runs < 1:
		return fmt.Errorf("--runs must be at least 1")
	case l.Streams < 1 || l.ConnectConcurrency < 1 || l.Callers < 1 || l.Batch < 1:
		return fmt.Errorf("--streams, --connect-concurrency, --callers and --batch must be at least 1")
	case l.SourceIPs < 0 || l.SourceIPs > 253:
		return fmt.Errorf("--source-ips must be 0 to 253")
	case l.Duration <= 0 || l.Rate < 0:
		return fmt.Errorf("--duration must be positive and --rate not negative")
	case l.TopicOffline < 0 || (l.TopicOffline > 0 && l.Mode != modeTopic):
		return fmt.Errorf("--topic-offline needs --mode topic and must not be negative")
	case l.Mode == modeReconnect && l.ReconnectEvery <= 0:
		return fmt.Errorf("--reconnect-every must be positive")
	case c.Calibrate && (l.Mode == modeReconnect || l.Mode == modeStorm):
		// Resuming needs history, which the bare server has none of.
		return fmt.Errorf("--calibrate does not support %s mode: the bare server keeps no history to resume from", l.Mode)
	}
	if c.HeraldNodes < 1 || (c.HeraldNodes > 1 && (c.HeraldBin == "" || !slices.Contains(c.HeraldArgs, "--store=redis"))) {
		return fmt.Errorf("--herald-nodes %d: want 1, or more with --herald-bin and --herald-arg=--store=redis (nodes share a Redis store)", c.HeraldNodes)
	}
	herald := c.HeraldBin != "" || c.HTTPAddr != "" || c.GRPCAddr != ""
	if c.HeraldBin == "" && herald {
		if c.HTTPAddr == "" || c.GRPCAddr == "" || c.Secret == "" || c.APIKey == "" {
			return fmt.Errorf("against a running herald, --http-addr, --grpc-addr, --jwt-secret and --api-key are all required")
		}
	}
	if !herald && !c.Calibrate {
		return fmt.Errorf("give herald's addresses (or --herald-bin), --calibrate, or both")
	}
	return nil
}
