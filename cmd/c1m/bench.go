package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"c1m/bench"
	"c1m/sysctl"
)

// runBench is `c1m bench`: the orchestrator; with "worker" first, one
// client worker process; with "baseline-serve", the goroutine-per-
// connection comparison server; with "raw-serve", the floor server (all
// three started by the orchestrator); with "agent", a load generator that
// runs workers for orchestrators on other hosts.
func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "worker":
			return runBenchWorker(args[1:], stdout, stderr)
		case "agent":
			return runBenchAgent(args[1:], stdout, stderr)
		case "baseline-serve":
			return runBaselineServe(args[1:], stdout, stderr)
		case "raw-serve":
			return runRawServe(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("c1m bench", flag.ContinueOnError)
	var cfg bench.Config
	scenarios := fs.String("scenario", "idle,broadcast", "comma-separated scenarios run in order: idle, broadcast, slow, rooms, churn")
	fs.IntVar(&cfg.Conns, "conns", 10000, "connections to open and hold")
	fs.IntVar(&cfg.Servers, "servers", 0, "local server processes (0: as the open-files limit requires)")
	fs.IntVar(&cfg.Workers, "workers", 0, "client worker processes (0: as the open-files limit requires)")
	fs.StringVar(&cfg.Server, "server", "c1m", "c1m, raw (the floor: a minimal epoll server of the benchmark's own) or baseline (goroutine per connection)")
	compare := fs.String("compare", "", "run these servers in turn with the same workers and scenarios and write one report side by side, e.g. raw,c1m,baseline")
	fs.StringVar(&cfg.Handler, "handler", "app", "the c1m servers' handler: app, or discard for the connection layer alone (idle only)")
	fs.DurationVar(&cfg.Hold, "hold", 10*time.Second, "idle hold at full count")
	fs.IntVar(&cfg.Rate, "rate", 0, "connects per second over all workers (0: no cap)")
	fs.IntVar(&cfg.BasePort, "base-port", 18080, "first local server port; metrics and API ports follow")
	fs.DurationVar(&cfg.RampTimeout, "ramp-timeout", 10*time.Minute, "give up ramping after this")
	fs.IntVar(&cfg.Broadcasts, "broadcasts", 10, "broadcast scenario: messages to everyone")
	fs.IntVar(&cfg.Size, "size", 64, "message size in bytes")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "between broadcasts")
	fs.Float64Var(&cfg.SlowFraction, "slow-fraction", 0.01, "slow scenario: fraction of clients that stop reading")
	fs.IntVar(&cfg.RoomSize, "room-size", 50, "rooms scenario: members per room")
	fs.IntVar(&cfg.PublishRate, "publish-rate", 200, "rooms scenario: publishes per second over all rooms")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "rooms and churn scenarios: how long")
	fs.IntVar(&cfg.ChurnRate, "churn-rate", 500, "churn scenario: reconnects per second")
	fs.IntVar(&cfg.Probes, "probes", 4, "probe connections per worker that measure ping round trips")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", 0, "the c1m servers' heartbeat period (0: their default, 30s)")
	fs.StringVar(&cfg.Cluster, "cluster", "", "make the local c1m servers nodes of one cluster: embedded (each runs NATS, routes on ports after the API ports) or nats://host:port[,...] (an existing NATS); every message is then published once instead of once per server")
	fs.StringVar(&cfg.PublishVia, "publish-via", "api", "rooms scenario with --cluster: api (HTTP requests to the nodes' publish APIs) or ws (room_message frames from one member of each room)")
	fs.IntVar(&cfg.Publishers, "publishers", 32, "rooms scenario with --cluster and --publish-via api: publish requests in flight")
	serveArgs := fs.String("serve-args", "", `extra flags for every local c1m serve, e.g. "--loops 1 --workers 1"`)
	sources := fs.String("sources", "127.0.0.2-127.0.0.254", "source addresses (ranges and lists)")
	targets := fs.String("target", "", "comma-separated ws:// URLs of servers already running (default: start local servers)")
	publish := fs.String("publish", "", "comma-separated publish API URLs of those servers")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer key for --publish (prefer C1M_API_KEY)")
	fs.StringVar(&cfg.JWTSecret, "jwt-secret", "", "HS256 secret (at least 32 bytes): the workers send one token per connection (user bench-<n>) and the local c1m servers verify it")
	fs.StringVar(&cfg.JWTPrivateKey, "jwt-private-key", "", "PEM private key file (RSA: RS256, P-256: ES256) the workers sign their tokens with; the local c1m servers get its public key")
	agents := fs.String("agents", "", "load generators to drive instead of local workers: host:port of `c1m bench agent`s, comma-separated; add local to keep a share on this box")
	fs.StringVar(&cfg.AgentKey, "agent-key", "", "the agents' key (prefer "+bench.AgentKeyEnv+")")
	fs.StringVar(&cfg.ServerHost, "server-host", "127.0.0.1", "IPv4 address the local servers' WebSocket listeners bind; with agents on other hosts, one they reach")
	out := fs.String("out", "", "report directory (default bench-results/<timestamp>)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	var err error
	if *agents != "" {
		if cfg.Agents, err = bench.ParseAgents(*agents); err != nil {
			fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
			return 2
		}
	}
	if cfg.AgentKey == "" {
		cfg.AgentKey = os.Getenv(bench.AgentKeyEnv)
	}
	if *compare != "" {
		if flagGiven(fs, "server") {
			fmt.Fprintln(stderr, "c1m bench: give --server or --compare, not both.")
			return 2
		}
		if *targets != "" {
			fmt.Fprintln(stderr, "c1m bench: --compare starts each server itself; it cannot be combined with --target.")
			return 2
		}
		if cfg.Cluster != "" {
			fmt.Fprintln(stderr, "c1m bench: --cluster runs c1m servers only; it cannot be combined with --compare.")
			return 2
		}
		if cfg.Compare, err = bench.ParseServers(*compare); err != nil {
			fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
			return 2
		}
	}
	if cfg.Scenarios, err = bench.ParseScenarios(*scenarios); err != nil {
		fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
		return 2
	}
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
		return 2
	}
	if *targets != "" {
		for _, t := range strings.Split(*targets, ",") {
			tg, err := bench.ParseTarget(strings.TrimSpace(t))
			if err != nil {
				fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
				return 2
			}
			cfg.Targets = append(cfg.Targets, tg)
		}
	}
	cfg.ServeArgs = strings.Fields(*serveArgs)
	if *publish != "" {
		cfg.Publish = strings.Split(*publish, ",")
	}
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("C1M_API_KEY")
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
	if len(cfg.Compare) > 0 {
		comp, err := bench.RunCompare(ctx, cfg)
		if comp == nil {
			fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
			return 1
		}
		for _, rep := range comp.Runs {
			printSummary(stdout, rep, rep.Server+": ")
		}
		fmt.Fprintf(stdout, "report in %s\n", cfg.Out)
		return lostExit(stderr, err)
	}
	rep, err := bench.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
		return 1
	}
	printSummary(stdout, rep, "")
	fmt.Fprintf(stdout, "report in %s\n", cfg.Out)
	return lostExit(stderr, err)
}

// lostExit is the exit status of a run that wrote its report: 1, with the
// error, when workers were lost mid-run (or the report could not be
// written), else 0.
func lostExit(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "c1m bench: %v.\n", err)
	return 1
}

// printSummary prints a run's figures, one line for the ramp and one per
// scenario, each after prefix.
func printSummary(w io.Writer, rep *bench.Report, prefix string) {
	fmt.Fprintf(w, "%sheld %d of %d connections; ramp %.1f s (%.0f conns/s); server user-space %.0f B/conn; kernel %.0f B/socket\n",
		prefix, rep.Held, rep.Target, rep.RampSeconds, rep.ConnRate, rep.ServerBytesPerConn, rep.KernelBytesPerSocket)
	for _, p := range rep.Phases {
		fmt.Fprintf(w, "%s%s\n", prefix, p.String())
	}
	for _, a := range rep.Agents {
		clock := "same clock"
		if n := len(a.Clock); n > 0 {
			clock = fmt.Sprintf("clock offset %+.3f ms (± %.3f)", a.Clock[n-1].OffsetMs, a.Clock[n-1].ErrorMs)
		}
		fmt.Fprintf(w, "%s  %s: held %d of %d, %d failed, ramp %.1f s, %s", prefix, a.Name, a.Held, a.Share, a.Failed, a.RampSeconds, clock)
		for _, p := range a.Phases {
			fmt.Fprintf(w, "; %s p50 %.1f ms p99 %.1f ms", p.Name, p.Latency.P50, p.Latency.P99)
		}
		if len(a.Lost) > 0 {
			fmt.Fprintf(w, "; LOST %d worker process(es)", len(a.Lost))
		}
		fmt.Fprintln(w)
	}
}

// flagGiven reports whether name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// runBenchWorker is one client worker: it opens its connections, holds
// them, prints a JSON progress line every 250 ms on stdout, runs the
// commands it reads as JSON lines on stdin (answering each with a dump
// line), and on SIGTERM closes them all and exits 0.
func runBenchWorker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m bench worker", flag.ContinueOnError)
	var cfg bench.WorkerConfig
	targets := fs.String("targets", "", "comma-separated ws://host:port/path targets")
	sources := fs.String("sources", "127.0.0.2-127.0.0.254", "source addresses")
	fs.IntVar(&cfg.Conns, "conns", 0, "connections to hold")
	fs.IntVar(&cfg.First, "first", 0, "global index of the first connection")
	fs.IntVar(&cfg.Total, "total", 0, "connections over all workers")
	fs.IntVar(&cfg.Rate, "rate", 0, "connects per second (0: no cap)")
	fs.IntVar(&cfg.Probes, "probes", 0, "probe connections (ping round trips)")
	fs.IntVar(&cfg.MaxInFlight, "in-flight", 0, "connection attempts under way at once (0: 2048)")
	fs.IntVar(&cfg.Retries, "retries", 0, "retries of a failed connection, with backoff (0: 5)")
	fs.Float64Var(&cfg.SlowFraction, "slow-fraction", 0, "fraction designated for the slow scenario")
	fs.BoolVar(&cfg.WaitStart, "wait-start", false, `wait for the "start" command before connecting`)
	fs.IntVar(&cfg.EndpointFirst, "endpoint-first", 0, "index of the first connection among this host's source addresses and ports")
	fs.IntVar(&cfg.EndpointTotal, "endpoint-total", 0, "connections of this host (0: --first and --total place them)")
	ports := fs.String("ports", "", "source-port range lo-hi (default 10000-60999)")
	fs.DurationVar(&cfg.ClockOffset, "clock-offset", 0, "this host's clock minus the publisher's, subtracted from receive times")
	fs.DurationVar(&cfg.ClockSkew, "clock-skew", 0, "test aid: act as if this host's clock were off by this much")
	jwtKey := fs.String("jwt-private-key", "", "PEM private key (RS256 or ES256) to mint one token per connection with; an HS256 secret comes in C1M_BENCH_JWT_SECRET")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	var err error
	switch secret := os.Getenv("C1M_BENCH_JWT_SECRET"); {
	case secret != "" && *jwtKey != "":
		fmt.Fprintln(stderr, "c1m bench worker: give an HS256 secret or --jwt-private-key, not both.")
		return 2
	case secret != "":
		cfg.Minter, err = bench.NewHS256Minter([]byte(secret))
	case *jwtKey != "":
		cfg.Minter, err = bench.NewKeyMinter(*jwtKey)
	}
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
		return 2
	}
	for _, t := range strings.Split(*targets, ",") {
		tg, err := bench.ParseTarget(strings.TrimSpace(t))
		if err != nil {
			fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
			return 2
		}
		cfg.Targets = append(cfg.Targets, tg)
	}
	if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
		fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
		return 2
	}
	if *ports != "" {
		if cfg.PortBase, cfg.PortMax, err = bench.ParsePorts(*ports); err != nil {
			fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
			return 2
		}
	}
	if _, err := sysctl.RaiseFileLimit(); err != nil {
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
	var outMu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(v any) {
		outMu.Lock()
		_ = enc.Encode(v)
		outMu.Unlock()
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var cmd bench.Command
			if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
				fmt.Fprintf(stderr, "c1m bench worker: cannot parse command %q: %v.\n", sc.Text(), err)
				emit(bench.Dump{Type: "dump"})
				continue
			}
			d, err := w.Do(cmd)
			if err != nil {
				fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
			}
			d.Type = "dump"
			emit(d)
		}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			emit(w.Snapshot())
			if err != nil {
				fmt.Fprintf(stderr, "c1m bench worker: %v.\n", err)
				return 1
			}
			return 0
		case <-tick.C:
			emit(w.Snapshot())
		}
	}
}
