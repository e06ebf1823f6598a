package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
)

// runAll runs the load against the bare server (with --calibrate) and then
// against herald (if one is given), one after the other, so that neither
// competes with the other for the machine.
func runAll(ctx context.Context, cfg config, log *slog.Logger) ([]*result, error) {
	var results []*result
	if cfg.Calibrate {
		r, err := runBare(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	if cfg.CompareBin != "" {
		before := cfg
		before.HeraldBin = cfg.CompareBin
		r, err := runHerald(ctx, before, "before", log)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	if cfg.HeraldBin != "" || cfg.HTTPAddr != "" {
		r, err := runHerald(ctx, cfg, "herald", log)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func runBare(ctx context.Context, cfg config, log *slog.Logger) (*result, error) {
	args := []string{"serve-bare", "--addr=127.0.0.1:0"}
	if cfg.BareNotify == bareNotifyGRPC {
		args = append(args, "--grpc-addr=127.0.0.1:0")
	}
	mk := cfg.bareCmd
	if mk == nil {
		mk = func(args []string) (*exec.Cmd, error) {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			return exec.Command(self, args...), nil
		}
	}
	cmd, err := mk(args)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	c, err := startChild(cmd, bareStartedMsg, false)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	defer c.Stop()
	name, snd, err := bareSender(cfg, c)
	if err != nil {
		return nil, err
	}
	defer snd.Close()
	// The bare server checks no token, but the streams send one all the
	// same, so that both servers get byte-for-byte the same requests.
	return runLoad(ctx, cfg.Load, server{Name: name, HTTPAddrs: []string{c.HTTPAddr}, Secret: "bare-server-checks-no-token-0123456789", Send: snd}, log)
}

// bareSender is how the load reaches the bare server c, and the name its
// results go under.
func bareSender(cfg config, c *child) (string, sender, error) {
	if cfg.BareNotify != bareNotifyGRPC {
		return "bare", newHTTPSender(c.HTTPAddr, cfg.Load.Callers), nil
	}
	if c.GRPCAddr == "" {
		return "", nil, fmt.Errorf("bare server: no gRPC address in %q", bareStartedMsg)
	}
	// The bare server checks no key either.
	snd, err := newGRPCSender(c.GRPCAddr, "bare-server-checks-no-key", cfg.GRPCConns)
	return "bare-grpc", snd, err
}

// runHerald runs the load against cfg's herald; its results go under name.
func runHerald(ctx context.Context, cfg config, name string, log *slog.Logger) (*result, error) {
	httpAddrs, grpcAddrs, secret, key := []string{cfg.HTTPAddr}, []string{cfg.GRPCAddr}, cfg.Secret, cfg.APIKey
	if cfg.HeraldBin != "" {
		nodes, err := startHeralds(cfg.HeraldBin, cfg.HeraldArgs, cfg.HeraldNodes)
		if err != nil {
			return nil, err
		}
		defer nodes.Stop()
		httpAddrs, grpcAddrs, secret, key = nodes.HTTPAddrs(), nodes.GRPCAddrs(), nodes.Secret, nodes.APIKey
	}
	// One sender per node; calls go to them in turn.
	var snds senders
	defer snds.Close()
	for i := range httpAddrs {
		var snd sender = newRESTSender(httpAddrs[i], key, cfg.Load.Callers)
		if cfg.Notify == notifyGRPC {
			var err error
			if snd, err = newGRPCSender(grpcAddrs[i], key, cfg.GRPCConns); err != nil {
				return nil, err
			}
		}
		snds.all = append(snds.all, snd)
	}
	var snd sender = &snds
	if len(snds.all) == 1 {
		snd = snds.all[0]
	}
	return runLoad(ctx, cfg.Load, server{Name: name, HTTPAddrs: httpAddrs, Secret: secret, Send: snd}, log)
}

// report writes the results as a table, or as JSON with --json. With
// several runs, each figure is the median over them, except counts of
// failures (lost, duplicated, errors), which are the worst run's.
func report(w io.Writer, cfg config, runs [][]*result) error {
	host, _ := os.Hostname()
	machine := fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	servers := runs[0]
	value := func(f figure, server int) float64 {
		vs := make([]float64, len(runs))
		for i, results := range runs {
			vs[i] = f.get(results[server])
		}
		slices.Sort(vs)
		if f.worst {
			return vs[len(vs)-1]
		}
		return vs[len(vs)/2] // an odd count is the usual; an even one takes the upper middle
	}
	if cfg.JSON {
		out := struct {
			Machine string                        `json:"machine"`
			Config  loadConfig                    `json:"config"`
			Runs    int                           `json:"runs"`
			Results []*result                     `json:"results"` // the last run's
			Medians map[string]map[string]float64 `json:"medians,omitempty"`
			All     [][]*result                   `json:"all_runs,omitempty"`
			Ratios  map[string]float64            `json:"ratios_herald_to_bare,omitempty"`
			// RatiosBefore are herald's figures over --compare-bin's.
			RatiosBefore map[string]float64 `json:"ratios_herald_to_before,omitempty"`
		}{Machine: machine, Config: cfg.Load, Runs: len(runs), Results: runs[len(runs)-1]}
		if len(runs) > 1 {
			out.All = runs
			out.Medians = make(map[string]map[string]float64)
			for si, r := range servers {
				m := make(map[string]float64)
				for _, f := range figures {
					m[f.key()] = value(f, si)
				}
				out.Medians[r.Server] = m
			}
		}
		if len(servers) == 2 {
			ratios := make(map[string]float64)
			for _, f := range figures {
				if b := value(f, 0); f.ratio && b != 0 {
					ratios[f.key()] = value(f, 1) / b
				}
			}
			if cfg.CompareBin != "" {
				out.RatiosBefore = ratios
			} else {
				out.Ratios = ratios
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "machine: %s\nload: %s mode, %d streams, rate %s, %d callers, batch %d, %s\n",
		machine, cfg.Load.Mode, cfg.Load.Streams, rateText(cfg.Load.Rate), cfg.Load.Callers, cfg.Load.Batch, cfg.Load.Duration)
	if len(runs) > 1 {
		fmt.Fprintf(w, "median of %d runs (failure counts: the worst run)\n", len(runs))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "figure\t"
	for _, r := range servers {
		header += r.Server + "\t"
	}
	if len(servers) == 2 {
		header += "ratio\t"
	}
	fmt.Fprintln(tw, header)
	for _, f := range figures {
		line := f.name + "\t"
		for si := range servers {
			line += fmt.Sprintf(f.format, value(f, si)) + "\t"
		}
		if len(servers) == 2 && f.ratio {
			line += ratioText(value(f, 1), value(f, 0)) + "\t"
		} else if len(servers) == 2 {
			line += "\t"
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, results := range runs {
		for _, r := range results {
			if r.FirstError != "" {
				fmt.Fprintf(w, "%s: first error: %s\n", r.Server, r.FirstError)
			}
			if msg := r.failed(); msg != "" {
				fmt.Fprintf(w, "FAILED %s\n", msg)
			}
		}
	}
	if len(servers) == 2 {
		fmt.Fprintf(w, "ratio is %s / %s\n", servers[1].Server, servers[0].Server)
	}
	return nil
}

// figure is one row of the table.
type figure struct {
	name   string
	format string
	ratio  bool
	get    func(*result) float64
	worst  bool // a count of failures: several runs report the worst
}

// key is the figure's name as a JSON key.
func (f figure) key() string {
	return strings.NewReplacer(" ", "_", "(", "", ")", "", "/", "_per_", "µ", "u", ".", "").Replace(f.name)
}

var figures = []figure{
	{"streams connected", "%.0f", false, func(r *result) float64 { return float64(r.Connected) }, false},
	{"connect errors", "%.0f", false, func(r *result) float64 { return float64(r.ConnectErrors) }, true},
	{"connects/s", "%.0f", true, func(r *result) float64 { return r.ConnectsPerSecond }, false},
	{"server RSS per idle stream (KB)", "%.1f", true, func(r *result) float64 { return r.ServerRSSPerStream / 1024 }, false},
	{"server CPU per connect (µs)", "%.0f", true, func(r *result) float64 { return r.ServerCPUConnectUs }, false},
	{"notifications acked", "%.0f", false, func(r *result) float64 { return float64(r.Acked) }, false},
	{"acked notifications/s", "%.0f", true, func(r *result) float64 { return r.AckedPerSecond }, false},
	{"inbox entries stored/s", "%.0f", true, func(r *result) float64 { return r.StoredPerSecond }, false},
	{"ack latency p50 (ms)", "%.2f", true, func(r *result) float64 { return r.AckP50Ms }, false},
	{"ack latency p99 (ms)", "%.2f", true, func(r *result) float64 { return r.AckP99Ms }, false},
	{"deliveries", "%.0f", false, func(r *result) float64 { return float64(r.Deliveries) }, false},
	{"deliveries/s", "%.0f", true, func(r *result) float64 { return r.DeliveriesPerSec }, false},
	{"latency p50 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP50Ms }, false},
	{"latency p90 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP90Ms }, false},
	{"latency p99 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP99Ms }, false},
	{"latency p99.9 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP999Ms }, false},
	{"latency max (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyMaxMs }, false},
	{"server CPU s per million deliveries", "%.1f", true, func(r *result) float64 { return r.ServerCPUPerMillion }, false},
	{"server RSS peak while sending (MB)", "%.1f", true, func(r *result) float64 { return r.ServerRSSPeak / (1 << 20) }, false},
	{"storm: time to resume every stream (s)", "%.2f", false, func(r *result) float64 { return r.StormRecoverySeconds }, false},
	{"load tool CPU s while sending", "%.2f", false, func(r *result) float64 { return r.ToolCPUSend }, false},
	{"bus entries dropped (cluster)", "%.0f", false, func(r *result) float64 { return r.BusDropped }, true},
	{"lost", "%.0f", false, func(r *result) float64 { return float64(r.Lost) }, true},
	{"duplicated", "%.0f", false, func(r *result) float64 { return float64(r.Duplicated) }, true},
	{"unexpected drops", "%.0f", false, func(r *result) float64 { return float64(r.Drops) }, true},
	{"planned reconnects", "%.0f", false, func(r *result) float64 { return float64(r.Reconnects) }, false},
	{"send errors", "%.0f", false, func(r *result) float64 { return float64(r.SendErrors) }, true},
}

func ratioText(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func rateText(r float64) string {
	if r == 0 {
		return "as fast as acknowledged"
	}
	return fmt.Sprintf("%.0f/s", r)
}
