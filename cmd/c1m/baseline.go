package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"c1m/bench/baseline"
)

// runBaselineServe is `c1m bench baseline-serve`: the goroutine-per-
// connection server the benchmark compares c1m with (package
// bench/baseline). It serves until SIGTERM or SIGINT, then shuts down and
// exits 0; a second signal skips the shutdown grace.
func runBaselineServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m bench baseline-serve", flag.ContinueOnError)
	var cfg baseline.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "WebSocket listen address")
	fs.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8081", "HTTP address for /v1/publish, /livez and /metrics")
	fs.StringVar(&cfg.Path, "path", baseline.DefaultPath, "WebSocket upgrade path")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer key for /v1/publish (required on a non-loopback --api-addr)")
	fs.IntVar(&cfg.QueueLen, "queue-len", baseline.DefaultQueueLen, "per-connection queue, in frames; a full queue closes the connection")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench baseline-serve: %v.\n", err)
		return 2
	}
	cfg.Logger = log
	s, err := baseline.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench baseline-serve: %v.\n", err)
		return 2
	}
	// Notify before Start so that a signal right after /livez answers is
	// not lost.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	if err := s.Start(); err != nil {
		fmt.Fprintf(stderr, "c1m bench baseline-serve: %v.\n", err)
		return 2
	}
	got := <-sig
	log.Info("signal received; shutting down", "signal", got.String(), "conns", s.Conns())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sig:
			log.Warn("second signal: closing now")
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.Shutdown(ctx); err != nil {
		log.Warn("shutdown cut short", "err", err)
	}
	return 0
}
