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
	"time"

	"c1m/broadcast"
	"c1m/server"
	"c1m/sysctl"
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
	fs.IntVar(&cfg.SendBuffer, "sndbuf", 0, "SO_SNDBUF for client sockets, capping the kernel memory a client that stops reading can pin (0: kernel autotuning)")
	handler := fs.String("handler", "app", "message handler: app (the JSON protocol of docs/protocol.md), echo or discard")
	auth := fs.String("auth", "jwt", "jwt (a token at the handshake) or none (anyone may connect: development only)")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret (at least 32 bytes); prefer C1M_JWT_SECRET over the command line")
	jwtKey := fs.String("jwt-public-key", "", "PEM public key file for RS256 (RSA) or ES256 (P-256) tokens")
	fs.BoolVar(&cfg.AllowQueryToken, "allow-query-token", false, "also accept the token as the access_token query parameter")
	origins := fs.String("allowed-origins", "", "comma-separated Origin values browsers may connect from (empty: any)")
	var app server.AppConfig
	apiCfg := server.APIConfig{}
	fs.StringVar(&apiCfg.Addr, "api-addr", "127.0.0.1:8081", "publish API listen address (- disables)")
	fs.StringVar(&apiCfg.Key, "api-key", "", "bearer key for the publish API (required off loopback); prefer C1M_API_KEY")
	policy := fs.String("slow-policy", "close", "slow consumers: close (1013) or drop (skip messages, send a gap notice)")
	fs.IntVar(&app.Hub.ChunkSize, "chunk-size", 1024, "connections per fan-out task")
	fs.IntVar(&app.Hub.Workers, "workers", 0, "fan-out pool size (0: 2 × GOMAXPROCS)")
	fs.IntVar(&app.Hub.MaxRoomsPerConn, "rooms-per-conn", 64, "rooms one connection may join")
	fs.IntVar(&app.Hub.MaxRoomMembers, "room-members", 0, "members per room (0: no cap)")
	fs.DurationVar(&app.Hub.PresenceWindow, "presence-window", time.Second, "presence events are batched over this window")
	fs.IntVar(&app.RateBurst, "rate-burst", 10, "client messages allowed at once")
	fs.Float64Var(&app.RateRefill, "rate-refill", 1, "client messages refilled per second")
	fs.IntVar(&app.AbuseLimit, "abuse-limit", 100, "rate-limit refusals in a row that close a connection with 1008")
	fs.IntVar(&app.MaxData, "max-data", 16<<10, "largest data field of a client message")
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
	var appH *server.App
	switch *handler {
	case "app":
		if app.Hub.Policy, err = broadcast.ParsePolicy(*policy); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		if appH, err = server.NewApp(app); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		cfg.Handler = appH
	case "echo":
		cfg.Handler = server.Echo{}
	case "discard":
		cfg.Handler = server.Discard{}
	default:
		fmt.Fprintf(stderr, "c1m serve: cannot use handler %q: want app, echo or discard.\n", *handler)
		return 2
	}
	switch {
	case *auth == "none":
		if *jwtSecret != "" || *jwtKey != "" {
			fmt.Fprintln(stderr, "c1m serve: --auth=none cannot be combined with --jwt-secret or --jwt-public-key.")
			return 2
		}
	case *auth != "jwt":
		fmt.Fprintf(stderr, "c1m serve: cannot use auth %q: want jwt or none.\n", *auth)
		return 2
	case *jwtSecret != "" && *jwtKey != "":
		fmt.Fprintln(stderr, "c1m serve: give --jwt-secret or --jwt-public-key, not both.")
		return 2
	case *jwtSecret != "":
		if cfg.Auth, err = server.NewHS256([]byte(*jwtSecret)); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
	case *jwtKey != "":
		if cfg.Auth, err = server.NewPublicKeyAuth(*jwtKey); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
	default:
		fmt.Fprintln(stderr, "c1m serve: --auth=jwt needs --jwt-secret or --jwt-public-key; use --auth=none for an open development server.")
		return 2
	}
	if *origins != "" {
		for _, o := range strings.Split(*origins, ",") {
			if o = strings.TrimSpace(o); o != "" {
				cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
			}
		}
	}

	limit, err := sysctl.RaiseFileLimit()
	if err != nil {
		log.Warn("cannot raise the open-files limit", "err", err)
	}
	s, err := server.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 2
	}
	if appH != nil {
		if err := appH.Attach(s); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		defer appH.Close()
	}
	if cfg.Auth == nil {
		log.Warn("authentication is OFF (--auth=none): anyone who reaches the listener may connect and claim any user id")
	} else {
		log.Info("authentication", "jwt_algorithm", cfg.Auth.(*server.JWTAuth).Algorithm(), "query_token", cfg.AllowQueryToken, "allowed_origins", len(cfg.AllowedOrigins))
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
	var api *server.API
	if appH != nil && apiCfg.Addr != "-" {
		if api, err = server.StartAPI(apiCfg, appH, s); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			_ = s.Shutdown(context.Background())
			return 1
		}
		if apiCfg.Key == "" {
			log.Warn("the publish API has no key: anything on this host may publish", "api", api.Addr())
		}
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
	if api != nil {
		_ = api.Shutdown(ctx)
	}
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
