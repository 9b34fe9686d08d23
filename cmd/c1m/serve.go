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

	"c1m/app"
	"c1m/broadcast"
	"c1m/cluster"
	"c1m/server"
	"c1m/sysctl"
	"c1m/wsproto"
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
	drainDelay := fs.Duration("drain-delay", server.DefaultDrainDelay, "on SIGTERM, answer /readyz 503 this long before the listeners close (0: none)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", server.DefaultDrainTimeout, "after --drain-delay, force-close what is still open after this")
	fs.IntVar(&cfg.DrainRate, "drain-rate", 0, "close frames per second while draining (0: the connections spread over the drain timeout)")
	fs.DurationVar(&cfg.CloseLinger, "close-linger", server.DefaultCloseLinger, "wait for the client's FIN after a close frame")
	fs.IntVar(&cfg.MaxMessage, "max-message", wsproto.DefaultMaxMessage, "maximum message size in bytes; larger → close 1009")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", wsproto.DefaultMaxHeaderBytes, "maximum upgrade request head; larger → HTTP 431")
	fs.IntVar(&cfg.MaxPending, "max-pending", server.DefaultMaxPending, "queued outbound bytes per connection before it is closed as a slow consumer (1013)")
	fs.Float64Var(&cfg.AcceptRatePerIP, "accept-rate-per-ip", 0, "new connections per second from one source address (an IPv6 /64), with a burst of twice that; past it HTTP 429 (0: off; behind an L4 balancer every source is the balancer)")
	fs.BoolVar(&cfg.ProxyProtocol, "proxy-protocol", false, "every connection starts with a PROXY protocol header (v2, or v1) from the load balancer, whose client address the per-IP limit and the logs use; a connection without one is closed. Only when every client comes through such a balancer")
	fs.BoolVar(&cfg.DebugGC, "debug-gc", false, "serve POST /debug/gc on --metrics-addr: a full garbage collection on demand, at most one a second (for c1m bench's memory per connection; not for production)")
	fs.IntVar(&cfg.SendBuffer, "sndbuf", 0, "SO_SNDBUF for client sockets, capping the kernel memory a client that stops reading can pin (0: kernel autotuning)")
	handler := fs.String("handler", "app", "message handler: app (the JSON protocol of docs/protocol.md), echo or discard")
	auth := fs.String("auth", "jwt", "jwt (a token at the handshake) or none (anyone may connect: development only)")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret (at least 32 bytes); prefer C1M_JWT_SECRET over the command line")
	jwtKey := fs.String("jwt-public-key", "", "PEM public key file for RS256 (RSA) or ES256 (P-256) tokens")
	var jwtOpts server.JWTOptions
	fs.StringVar(&jwtOpts.Audience, "jwt-audience", "", "when set, tokens must name it in \"aud\"")
	fs.StringVar(&jwtOpts.Issuer, "jwt-issuer", "", "when set, tokens must have it as \"iss\"")
	fs.BoolVar(&cfg.AllowQueryToken, "allow-query-token", false, "also accept the token as the access_token query parameter")
	origins := fs.String("allowed-origins", "", "comma-separated Origin values browsers may connect from (empty: any)")
	var acfg app.Config
	fs.StringVar(&acfg.API.Addr, "api-addr", app.DefaultAPIAddr, "publish API listen address (- disables)")
	fs.StringVar(&acfg.API.Key, "api-key", "", "bearer key for the publish API (required off loopback); prefer C1M_API_KEY")
	policy := fs.String("slow-policy", "close", "slow consumers: close (1013) or drop (skip messages, send a gap notice)")
	fs.IntVar(&acfg.Hub.ChunkSize, "chunk-size", broadcast.DefaultChunkSize, "connections per fan-out task")
	fs.IntVar(&acfg.Hub.Workers, "workers", 0, "fan-out pool size (0: 2 × GOMAXPROCS)")
	fs.IntVar(&acfg.Hub.MaxRoomsPerConn, "rooms-per-conn", broadcast.DefaultMaxRoomsPerConn, "rooms one connection may join")
	fs.IntVar(&acfg.Hub.MaxRoomMembers, "room-members", 0, "members per room (0: no cap)")
	fs.DurationVar(&acfg.Hub.PresenceWindow, "presence-window", broadcast.DefaultPresenceWindow, "presence events are batched over this window")
	fs.IntVar(&acfg.RateBurst, "rate-burst", app.DefaultRateBurst, "client messages allowed at once")
	fs.Float64Var(&acfg.RateRefill, "rate-refill", app.DefaultRateRefill, "client messages refilled per second")
	fs.IntVar(&acfg.AbuseLimit, "abuse-limit", app.DefaultAbuseLimit, "rate-limit refusals in a row that close a connection with 1008")
	fs.IntVar(&acfg.MaxData, "max-data", app.DefaultMaxData, "largest data field of a client message")
	fs.BoolVar(&acfg.ExpireClose, "jwt-expire-close", false, "close a connection (4001 \"token expired\") when its token's exp passes (app handler)")
	var cf cluster.Flags
	fs.StringVar(&cf.Cluster, "cluster", "", "join other nodes: nats://host:4222[,...] (an existing NATS; tls:// for TLS), or embedded[:[host:]port] (NATS inside this process, routes on port); empty: a single node")
	fs.StringVar(&cf.Routes, "cluster-routes", "", "with --cluster embedded:port: the peer nodes' route addresses, host:port,... (the same list on every node)")
	fs.StringVar(&cf.Node, "cluster-node", "", "this node's name in the cluster (default: the host name)")
	fs.IntVar(&cf.Replicas, "cluster-replicas", 0, "replicas of the message stream (0: 3 with three embedded nodes or more, else 1)")
	fs.StringVar(&cf.DataDir, "data-dir", "", "the embedded NATS's JetStream directory (file storage of the history)")
	fs.StringVar(&cf.Storage, "history-storage", "", "memory or file (default: file with --data-dir, memory otherwise)")
	fs.IntVar(&cf.History, "history", 0, "messages kept per room, user and everyone for clients joining with since (needs --cluster; embedded alone works on one node)")
	fs.DurationVar(&cf.HistoryTTL, "history-ttl", 0, "how long the history keeps a message (0: 24h)")
	fs.IntVar(&acfg.ConnsPerUser, "conns-per-user", app.DefaultConnsPerUser, "open connections one user id may hold; a newer one closes the oldest (1008)")
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
	cfg.DrainDelay = *drainDelay
	if cfg.DrainDelay <= 0 {
		cfg.DrainDelay = -1 // none: the Config's zero means the default
	}
	if *handler == "app" {
		if acfg.Hub.Policy, err = broadcast.ParsePolicy(*policy); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		if acfg.Cluster, err = cluster.Parse(cf, os.Getenv); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
	} else if cf.Cluster != "" {
		fmt.Fprintf(stderr, "c1m serve: --cluster needs --handler=app.\n")
		return 2
	}
	if code, ok := serveAuth(&cfg, *auth, *jwtSecret, *jwtKey, jwtOpts, stderr); !ok {
		return code
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
	var svc service
	switch *handler {
	case "app":
		acfg.Engine = cfg
		a, err := app.New(acfg)
		if err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		svc = a
	case "echo", "discard":
		cfg.Handler = server.Echo{}
		if *handler == "discard" {
			cfg.Handler = server.Discard{}
		}
		s, err := server.New(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2
		}
		svc = engineOnly{s}
	default:
		fmt.Fprintf(stderr, "c1m serve: cannot use handler %q: want app, echo or discard.\n", *handler)
		return 2
	}
	s := svc.Engine()
	if cfg.Auth == nil {
		log.Warn("authentication is OFF (--auth=none): anyone who reaches the listener may connect and claim any user id")
	} else {
		ja := cfg.Auth.(*server.JWTAuth)
		log.Info("authentication", "jwt_algorithm", ja.Algorithm(), "audience", jwtOpts.Audience, "issuer", jwtOpts.Issuer,
			"expire_close", acfg.ExpireClose, "query_token", cfg.AllowQueryToken, "allowed_origins", len(cfg.AllowedOrigins))
		if *jwtKey != "" && !ja.ChecksAudienceOrIssuer() {
			log.Warn("the JWT public key is checked without --jwt-audience or --jwt-issuer: any token signed by the same identity provider, for any application, is accepted; set one of them")
		}
	}
	capacity, maxConns := s.Capacity()
	log.Info("open-files limit", "nofile", limit, "capacity_connections", capacity)
	if cfg.MaxConns > capacity {
		log.Warn(fmt.Sprintf("max-conns %d is above what the open-files limit allows (%d); raise LimitNOFILE or ulimit -n (see c1m sysctl check)", cfg.MaxConns, capacity))
	}
	preflight(log, maxConns)
	// The handler goes in before the listeners open: a SIGTERM from a
	// supervisor that sees the port answer must start a drain, not kill
	// the process by the runtime's default. One that arrives during
	// Start waits in the channel until the server is up.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	if err := svc.Start(); err != nil {
		fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
		return 1
	}
	log.Info("serving", "addr", fmt.Sprintf("%s (port %d)", cfg.Addr, s.Port()), "path", cfg.Path, "metrics", s.MetricsAddr(), "handler", *handler, "max_conns", maxConns, "proxy_protocol", cfg.ProxyProtocol)

	got := <-sig
	log.Info("signal received; draining", "signal", got.String())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// A second signal skips the rest of the drain.
		<-sig
		log.Warn("second signal: closing now")
		cancel()
	}()
	if err := svc.Shutdown(ctx); err != nil {
		log.Error("shutdown", "err", err)
	}
	cancel()
	return 0
}

// service is what `c1m serve` runs: the App, or the engine alone with the
// echo or discard handler.
type service interface {
	Start() error
	Shutdown(ctx context.Context) error
	Engine() *server.Server
}

// engineOnly runs the connection engine without the application.
type engineOnly struct{ s *server.Server }

func (e engineOnly) Start() error                       { return e.s.Start() }
func (e engineOnly) Shutdown(ctx context.Context) error { return e.s.Shutdown(ctx) }
func (e engineOnly) Engine() *server.Server             { return e.s }

// serveAuth sets cfg.Auth from the auth flags, or prints one sentence and
// returns the exit status.
func serveAuth(cfg *server.Config, auth, secret, keyFile string, opts server.JWTOptions, stderr io.Writer) (int, bool) {
	var err error
	switch {
	case auth == "none":
		if secret != "" || keyFile != "" || opts.Audience != "" || opts.Issuer != "" {
			fmt.Fprintln(stderr, "c1m serve: --auth=none cannot be combined with --jwt-secret, --jwt-public-key, --jwt-audience or --jwt-issuer.")
			return 2, false
		}
	case auth != "jwt":
		fmt.Fprintf(stderr, "c1m serve: cannot use auth %q: want jwt or none.\n", auth)
		return 2, false
	case secret != "" && keyFile != "":
		fmt.Fprintln(stderr, "c1m serve: give --jwt-secret or --jwt-public-key, not both.")
		return 2, false
	case secret != "":
		if cfg.Auth, err = server.NewHS256([]byte(secret), opts); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2, false
		}
	case keyFile != "":
		if cfg.Auth, err = server.NewPublicKeyAuth(keyFile, opts); err != nil {
			fmt.Fprintf(stderr, "c1m serve: %v.\n", err)
			return 2, false
		}
	default:
		fmt.Fprintln(stderr, "c1m serve: --auth=jwt needs --jwt-secret or --jwt-public-key; use --auth=none for an open development server.")
		return 2, false
	}
	return 0, true
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
