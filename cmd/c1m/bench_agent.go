package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"c1m/bench"
)

// runBenchAgent is `c1m bench agent`: a load generator. It listens for
// orchestrators (`c1m bench --agents`), checks their key, and runs the
// worker processes they ask for, relaying their commands and progress,
// until SIGINT or SIGTERM; then it stops its workers and exits 0.
func runBenchAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m bench agent", flag.ContinueOnError)
	var cfg bench.AgentConfig
	fs.StringVar(&cfg.Listen, "listen", "", "host:port orchestrators connect to (required)")
	key := fs.String("agent-key", "", "the key orchestrators must prove they hold, at least 16 bytes (prefer "+bench.AgentKeyEnv+"); required unless --listen is a loopback address")
	sources := fs.String("sources", "", "source addresses of the workers' connections, ranges and lists (default: the address this host routes from toward the first target)")
	fs.IntVar(&cfg.MaxWorkers, "max-workers", bench.DefaultAgentMaxWorkers, "most worker processes at once: with the open-files limit, the most connections this agent takes")
	fs.DurationVar(&cfg.ClockSkew, "clock-skew", 0, "test aid: act as if this host's clock were off by this much")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if cfg.Listen == "" {
		fmt.Fprintln(stderr, "c1m bench agent: give --listen host:port.")
		return 2
	}
	if *key == "" {
		*key = os.Getenv(bench.AgentKeyEnv)
	}
	cfg.Key = []byte(*key)
	var err error
	if *sources != "" {
		if cfg.Sources, err = bench.ParseSources(*sources); err != nil {
			fmt.Fprintf(stderr, "c1m bench agent: %v.\n", err)
			return 2
		}
	}
	if cfg.Exe, err = os.Executable(); err != nil {
		fmt.Fprintf(stderr, "c1m bench agent: cannot find the c1m binary: %v.\n", err)
		return 1
	}
	cfg.Log = stderr
	a, err := bench.NewAgent(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench agent: %v.\n", err)
		return 2
	}
	if len(cfg.Key) == 0 {
		fmt.Fprintf(stderr, "c1m bench agent: no key: any local user can run workers through %s.\n", a.Addr())
	}
	fmt.Fprintf(stderr, "c1m bench agent: listening on %s\n", a.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := a.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "c1m bench agent: %v.\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "c1m bench agent: stopped after %s\n", time.Since(start).Round(time.Second))
	return 0
}
