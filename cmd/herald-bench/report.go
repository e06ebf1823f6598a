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
	if cfg.HeraldBin != "" || cfg.HTTPAddr != "" {
		r, err := runHerald(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func runBare(ctx context.Context, cfg config, log *slog.Logger) (*result, error) {
	mk := cfg.bareCmd
	if mk == nil {
		mk = func() (*exec.Cmd, error) {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			return exec.Command(self, "serve-bare", "--addr=127.0.0.1:0"), nil
		}
	}
	cmd, err := mk()
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	c, err := startChild(cmd, bareStartedMsg, false)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	defer c.Stop()
	snd := newHTTPSender(c.HTTPAddr, cfg.GRPCConns)
	defer snd.Close()
	// The bare server checks no token, but the streams send one all the
	// same, so that both servers get byte-for-byte the same requests.
	return runLoad(ctx, cfg.Load, server{Name: "bare", HTTPAddr: c.HTTPAddr, Secret: "bare-server-checks-no-token-0123456789", Send: snd}, log)
}

func runHerald(ctx context.Context, cfg config, log *slog.Logger) (*result, error) {
	httpAddr, grpcAddr, secret, key := cfg.HTTPAddr, cfg.GRPCAddr, cfg.Secret, cfg.APIKey
	if cfg.HeraldBin != "" {
		h, err := startHerald(cfg.HeraldBin, cfg.HeraldArgs)
		if err != nil {
			return nil, err
		}
		defer h.Stop()
		httpAddr, grpcAddr, secret, key = h.HTTPAddr, h.GRPCAddr, h.Secret, h.APIKey
	}
	snd, err := newGRPCSender(grpcAddr, key, cfg.GRPCConns)
	if err != nil {
		return nil, err
	}
	defer snd.Close()
	return runLoad(ctx, cfg.Load, server{Name: "herald", HTTPAddr: httpAddr, Secret: secret, Send: snd}, log)
}

// report writes the results as a table, or as JSON with --json.
func report(w io.Writer, cfg config, results []*result) error {
	host, _ := os.Hostname()
	machine := fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if cfg.JSON {
		out := struct {
			Machine string             `json:"machine"`
			Config  loadConfig         `json:"config"`
			Results []*result          `json:"results"`
			Ratios  map[string]float64 `json:"ratios_herald_to_bare,omitempty"`
		}{machine, cfg.Load, results, ratios(results)}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "machine: %s\nload: %s mode, %d streams, rate %s, %d callers, batch %d, %s\n\n",
		machine, cfg.Load.Mode, cfg.Load.Streams, rateText(cfg.Load.Rate), cfg.Load.Callers, cfg.Load.Batch, cfg.Load.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := "figure\t"
	for _, r := range results {
		header += r.Server + "\t"
	}
	if len(results) == 2 {
		header += "ratio\t"
	}
	fmt.Fprintln(tw, header)
	for _, f := range figures {
		line := f.name + "\t"
		for _, r := range results {
			line += fmt.Sprintf(f.format, f.get(r)) + "\t"
		}
		if len(results) == 2 && f.ratio {
			line += ratioText(f.get(results[1]), f.get(results[0])) + "\t"
		} else if len(results) == 2 {
			line += "\t"
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", r.Server, r.FirstError)
		}
		if msg := r.failed(); msg != "" {
			fmt.Fprintf(w, "FAILED %s\n", msg)
		}
	}
	if len(results) == 2 {
		fmt.Fprintf(w, "ratio is %s / %s\n", results[1].Server, results[0].Server)
	}
	return nil
}

// figure is one row of the table.
type figure struct {
	name   string
	format string
	ratio  bool
	get    func(*result) float64
}

var figures = []figure{
	{"streams connected", "%.0f", false, func(r *result) float64 { return float64(r.Connected) }},
	{"connect errors", "%.0f", false, func(r *result) float64 { return float64(r.ConnectErrors) }},
	{"connects/s", "%.0f", true, func(r *result) float64 { return r.ConnectsPerSecond }},
	{"server RSS per idle stream (KB)", "%.1f", true, func(r *result) float64 { return r.ServerRSSPerStream / 1024 }},
	{"server CPU per connect (µs)", "%.0f", true, func(r *result) float64 { return r.ServerCPUConnectUs }},
	{"notifications acked", "%.0f", false, func(r *result) float64 { return float64(r.Acked) }},
	{"acked notifications/s", "%.0f", true, func(r *result) float64 { return r.AckedPerSecond }},
	{"ack latency p50 (ms)", "%.2f", true, func(r *result) float64 { return r.AckP50Ms }},
	{"ack latency p99 (ms)", "%.2f", true, func(r *result) float64 { return r.AckP99Ms }},
	{"deliveries", "%.0f", false, func(r *result) float64 { return float64(r.Deliveries) }},
	{"deliveries/s", "%.0f", true, func(r *result) float64 { return r.DeliveriesPerSec }},
	{"latency p50 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP50Ms }},
	{"latency p90 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP90Ms }},
	{"latency p99 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP99Ms }},
	{"latency p99.9 (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyP999Ms }},
	{"latency max (ms)", "%.2f", true, func(r *result) float64 { return r.LatencyMaxMs }},
	{"server CPU s per million deliveries", "%.1f", true, func(r *result) float64 { return r.ServerCPUPerMillion }},
	{"load tool CPU s while sending", "%.2f", false, func(r *result) float64 { return r.ToolCPUSend }},
	{"lost", "%.0f", false, func(r *result) float64 { return float64(r.Lost) }},
	{"duplicated", "%.0f", false, func(r *result) float64 { return float64(r.Duplicated) }},
	{"unexpected drops", "%.0f", false, func(r *result) float64 { return float64(r.Drops) }},
	{"planned reconnects", "%.0f", false, func(r *result) float64 { return float64(r.Reconnects) }},
	{"send errors", "%.0f", false, func(r *result) float64 { return float64(r.SendErrors) }},
}

// ratios gives herald's figures over the bare server's, when both ran.
func ratios(results []*result) map[string]float64 {
	if len(results) != 2 {
		return nil
	}
	m := make(map[string]float64)
	for _, f := range figures {
		if b := f.get(results[0]); f.ratio && b != 0 {
			key := strings.NewReplacer(" ", "_", "(", "", ")", "", "/", "_per_", "µ", "u", ".", "").Replace(f.name)
			m[key] = f.get(results[1]) / b
		}
	}
	return m
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
