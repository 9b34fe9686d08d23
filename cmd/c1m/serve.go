package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"c1m/server"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("c1m serve", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", server.DefaultAddr, "WebSocket listen address")
	fs.StringVar(&cfg.Path, "path", server.DefaultPath, "upgrade path")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", server.DefaultMetricsAddr, "metrics, /livez and /readyz listen address (- disables)")
	fs.IntVar(&cfg.MaxConns, "max-conns", 0, "maximum sockets; past it new connections get HTTP 503 (0: open-files limit minus a reserve)")
	fs.IntVar(&cfg.Loops, "loops", 0, "epoll loops (0: GOMAXPROCS)")
	fs.BoolVar(&cfg.ReusePort, "reuseport", false, "one SO_REUSEPORT listener per loop")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "deadline for the HTTP upgrade request")
	fs.DurationVar(&cfg.PingInterval, "ping-interval", server.DefaultPingInterval, "heartbeat ping period; two silent periods close a connection with 1001")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on SIGTERM, force-close what is still open after this")
	fs.IntVar(&cfg.DrainRate, "drain-rate", server.DefaultDrainRate, "close frames per second while draining")
	fs.DurationVar(&cfg.CloseLinger, "close-linger", server.DefaultCloseLinger, "wait for the client's FIN after a close frame")
	fs.IntVar(&cfg.MaxMessage, "max-message", 64<<10, "maximum message size in bytes; larger → close 1009")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 8<<10, "maximum upgrade request head; larger → HTTP 431")
	fs.IntVar(&cfg.MaxPending, "max-pending", server.DefaultMaxPending, "queued outbound bytes per connection before it is closed as a slow consumer (1013)")
	handler := fs.String("handler", "echo", "message handler: echo or discard")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	configPath := fs.String("config", "", "config file of name = value lines (flags > C1M_* env > file)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if err := applyFlagSources(fs, *configPath); err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 2
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 2
	}
	cfg.Logger = log
	switch *handler {
	case "echo":
		cfg.Handler = server.Echo{}
	case "discard":
		cfg.Handler = server.Discard{}
	default:
		fmt.Fprintf(stderr, "c1m serve: cannot use handler %q: want echo or discard.\n", *handler)
		return 2
	}

	limit, err := server.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open-files limit", "err", err)
	}
	s, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 2
	}
	capacity, maxConns := s.Capacity()
	log.Info("open-files limit", "nofile", limit, "capacity_connections", capacity)
	if cfg.MaxConns > capacity {
		log.Warn(fmt.Sprintf("max-conns %d is above what the open-files limit allows (%d); raise LimitNOFILE or ulimit -n (see c1m sysctl check)", cfg.MaxConns, capacity))
	}
	preflight(log, maxConns)
	if err := s.Start(); err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 1
	}
	log.Info("serving", "addr", fmt.Sprintf("%s (port %d)", cfg.Addr, s.Port()), "path", cfg.Path, "metrics", s.MetricsAddr(), "handler", *handler, "max_conns", maxConns)

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	got := <-sig
	log.Info("signal received; draining", "signal", got.String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// A second signal skips the rest of the drain.
		<-sig
		log.Warn("second signal: closing now")
		cancel()
	}()
	if err := s.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
	}
	cancel()
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("cannot use log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("cannot use log format %q: want text or json", format)
}
