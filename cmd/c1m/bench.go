package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"c1m/bench"
)

// runBench is `c1m bench`: the orchestrator, or with "worker" first, one
// client worker process (started by the orchestrator).
func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "worker" {
		return runBenchWorker(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("c1m bench", flag.ContinueOnError)
	var cfg bench.Config
	fs.StringVar(&cfg.Scenario, "scenario", "idle", "scenario: idle")
	fs.IntVar(&cfg.Conns, "conns", 10000, "connections to open and hold")
	fs.IntVar(&cfg.Servers, "servers", 0, "local c1m serve processes (0: as the open-files limit requires)")
	fs.IntVar(&cfg.Workers, "workers", 0, "client worker processes (0: as the open-files limit requires)")
	fs.DurationVar(&cfg.Hold, "hold", 10*time.Second, "hold time at full count")
	fs.IntVar(&cfg.Rate, "rate", 0, "connects per second over all workers (0: no cap)")
	fs.IntVar(&cfg.BasePort, "base-port", 18080, "first local server port; metrics ports follow the server ports")
	fs.DurationVar(&cfg.RampTimeout, "ramp-timeout", 10*time.Minute, "give up ramping after this")
	sources := fs.String("sources", "127.0.0.2-127.0.0.254", "source addresses (ranges and lists)")
	out := fs.String("out", "", "report directory (default bench-results/<timestamp>)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if cfg.Scenario != "idle" {
		fmt.Fprintf(stderr, "c1m bench: cannot run scenario %q: this build has idle.\n", cfg.Scenario)
		return 2
	}
	if cfg.Conns < 1 {
		fmt.Fprintf(stderr, "c1m bench: --conns must be at least 1, got %d.\n", cfg.Conns)
		return 2
	}
	var err error
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
		return 2
	}
	cfg.Out = *out
	if cfg.Out == "" {
		cfg.Out = filepath.Join("bench-results", time.Now().UTC().Format("20060102T150405Z"))
	}
	if cfg.Exe, err = os.Executable(); err != nil {
		fmt.Fprintf(stderr, "c1m bench: cannot find the c1m binary: %v.\n", err)
		return 1
	}
	cfg.Command = "c1m bench " + strings.Join(args, " ")
	cfg.Progress = stderr
	cfg.Terminal = isTerminal(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "held %d of %d connections; ramp %.1f s (%.0f conns/s); server user-space %.0f B/conn; kernel %.0f B/socket; report in %s\n",
		rep.Held, rep.Target, rep.RampSeconds, rep.ConnRate, rep.ServerBytesPerConn, rep.KernelBytesPerSocket, cfg.Out)
	return 0
}

// runBenchWorker is one client worker: it opens its connections, holds
// them, prints a JSON progress line every 250 ms on stdout, and on SIGTERM
// closes them all and exits 0.
func runBenchWorker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m bench worker", flag.ContinueOnError)
	var cfg bench.WorkerConfig
	targets := fs.String("targets", "", "comma-separated ws://host:port/path targets")
	sources := fs.String("sources", "127.0.0.2-127.0.0.254", "source addresses")
	fs.IntVar(&cfg.Conns, "conns", 0, "connections to hold")
	fs.IntVar(&cfg.First, "first", 0, "global index of the first connection")
	fs.IntVar(&cfg.Rate, "rate", 0, "connects per second (0: no cap)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	for _, t := range strings.Split(*targets, ",") {
		tg, err := bench.ParseTarget(strings.TrimSpace(t))
		if err != nil {
			fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
			return 2
		}
		cfg.Targets = append(cfg.Targets, tg)
	}
	var err error
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
		return 2
	}
	if _, err := bench.RaiseFileLimit(); err != nil {
		fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
		return 1
	}
	w, err := bench.NewWorker(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	enc := json.NewEncoder(stdout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			_ = enc.Encode(w.Snapshot())
			if err != nil {
				fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
				return 1
			}
			return 0
		case <-tick.C:
			_ = enc.Encode(w.Snapshot())
		}
	}
}
