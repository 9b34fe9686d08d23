package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"c1m/bench/raw"
)

// runRawServe is `c1m bench raw-serve`: the benchmark's floor server
// (package bench/raw), started by the orchestrator for --server raw. It
// serves until SIGTERM or SIGINT, then shuts down and exits 0; a second
// signal skips what is left of the shutdown.
func runRawServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m bench raw-serve", flag.ContinueOnError)
	var cfg raw.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "WebSocket listen address")
	fs.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8081", "HTTP address for /v1/publish, /livez and /metrics")
	fs.StringVar(&cfg.Path, "path", raw.DefaultPath, "WebSocket upgrade path")
	fs.StringVar(&cfg.APIKey, "api-key", "", "bearer key for /v1/publish (required on a non-loopback --api-addr)")
	fs.IntVar(&cfg.Loops, "loops", 0, "epoll loops sharing the listener (0: GOMAXPROCS)")
	fs.IntVar(&cfg.Writers, "writers", 0, "goroutines writing a broadcast (0: 2 × GOMAXPROCS)")
	fs.IntVar(&cfg.ChunkSize, "chunk-size", raw.DefaultChunkSize, "fds a writer takes at a time")
	fs.IntVar(&cfg.MaxPending, "max-pending", raw.DefaultMaxPending, "bytes queued for a full socket before it is closed as a slow consumer")
	fs.IntVar(&cfg.SendBuffer, "sndbuf", 0, "SO_SNDBUF of accepted sockets (0: the kernel's)")
	fs.StringVar(&cfg.Syscall, "syscall", raw.SyscallSend, "how a broadcast writes: send (send(2), MSG_DONTWAIT|MSG_NOSIGNAL) or write (write(2))")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench raw-serve: %v.\n", err)
		return 2
	}
	cfg.Logger = log
	s, err := raw.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m bench raw-serve: %v.\n", err)
		return 2
	}
	// Notify before Start so that a signal right after /livez answers is
	// not lost.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	if err := s.Start(); err != nil {
		fmt.Fprintf(stderr, "c1m bench raw-serve: %v.\n", err)
		return 1
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
