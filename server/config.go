package server

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"c1m/wsproto"
)

// Defaults for Config's zero fields.
const (
	DefaultAddr             = "127.0.0.1:8080"
	DefaultPath             = "/ws"
	DefaultMetricsAddr      = "127.0.0.1:9090"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultDrainTimeout     = 30 * time.Second
	DefaultDrainRate        = 10000
	DefaultMaxPending       = 256 << 10
	// DefaultCloseLinger is how long a connection whose close frame was sent
	// waits for the peer's FIN before its fd is closed anyway. Closing at
	// once would turn unread input into an RST that can destroy the close
	// frame in flight (RFC 6455 §7.1.1: the server closes the TCP
	// connection first, after the handshake, not before it is read).
	DefaultCloseLinger = 2 * time.Second
)

// Config configures a Server. The zero value is usable: every zero field
// takes the default named beside it. A Config is read at New and not after.
type Config struct {
	Addr        string // WebSocket listener, DefaultAddr
	Path        string // upgrade path, DefaultPath; other paths get 404
	MetricsAddr string // metrics/health listener, DefaultMetricsAddr; "-" disables it

	// MaxConns caps accepted sockets (handshaking and open). Past it a new
	// connection is answered HTTP 503 before the upgrade. 0 means the
	// open-files limit minus a reserve.
	MaxConns int
	// Loops is the number of epoll loops; 0 means GOMAXPROCS.
	Loops int
	// ReusePort gives every loop its own SO_REUSEPORT listener instead of
	// one listener shared with EPOLLEXCLUSIVE.
	ReusePort bool

	HandshakeTimeout time.Duration // DefaultHandshakeTimeout
	// PingInterval is the heartbeat period; a connection silent for two
	// intervals is closed with 1001 "idle timeout".
	PingInterval time.Duration
	DrainTimeout time.Duration // DefaultDrainTimeout
	DrainRate    int           // close frames per second while draining, DefaultDrainRate
	CloseLinger  time.Duration // DefaultCloseLinger

	MaxMessage     int // wsproto.DefaultMaxMessage
	MaxHeaderBytes int // wsproto.DefaultMaxHeaderBytes
	MaxPending     int // queued outbound bytes per connection, DefaultMaxPending
	// SendBuffer sets SO_SNDBUF on every accepted socket; 0 leaves the
	// kernel's autotuning (up to net.ipv4.tcp_wmem's maximum, 4 MiB by
	// default). A client that stops reading pins its socket's send buffer
	// plus MaxPending; setting this caps the kernel part too.
	SendBuffer int

	// Handler receives connection events; nil means Echo.
	Handler Handler

	// Auth checks the token of every handshake (401 when it fails). nil
	// means anonymous: anyone may connect, and the user id is the
	// unchecked "user" query parameter (development only).
	Auth Authenticator
	// AllowQueryToken also takes the token from the access_token query
	// parameter. Off by default: URLs end up in proxy and access logs.
	AllowQueryToken bool
	// AllowedOrigins, when not empty, is the list of Origin header
	// values a browser may connect from (others get 403).
	AllowedOrigins []string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Path[0] != '/' {
		return c, fmt.Errorf("cannot use path %q: it must start with /", c.Path)
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = DefaultMetricsAddr
	}
	if c.Loops == 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.Loops < 0 || c.Loops > 255 {
		return c, fmt.Errorf("cannot use %d loops: want 1..255", c.Loops)
	}
	if c.SendBuffer < 0 {
		return c, fmt.Errorf("cannot use sndbuf %d: it must not be negative", c.SendBuffer)
	}
	if c.MaxConns < 0 {
		return c, fmt.Errorf("cannot use max-conns %d: it must not be negative", c.MaxConns)
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"handshake-timeout", &c.HandshakeTimeout, DefaultHandshakeTimeout},
		{"ping-interval", &c.PingInterval, DefaultPingInterval},
		{"drain-timeout", &c.DrainTimeout, DefaultDrainTimeout},
		{"close-linger", &c.CloseLinger, DefaultCloseLinger},
	}
	for _, d := range durs {
		if *d.p == 0 {
			*d.p = d.def
		}
		if *d.p < time.Millisecond {
			return c, fmt.Errorf("cannot use %s %v: it must be at least 1ms", d.name, *d.p)
		}
	}
	ints := []struct {
		name string
		p    *int
		def  int
		min  int
	}{
		{"drain-rate", &c.DrainRate, DefaultDrainRate, 1},
		{"max-message", &c.MaxMessage, wsproto.DefaultMaxMessage, 125},
		{"max-header-bytes", &c.MaxHeaderBytes, wsproto.DefaultMaxHeaderBytes, 256},
		{"max-pending", &c.MaxPending, DefaultMaxPending, 1024},
	}
	for _, v := range ints {
		if *v.p == 0 {
			*v.p = v.def
		}
		if *v.p < v.min {
			return c, fmt.Errorf("cannot use %s %d: it must be at least %d", v.name, *v.p, v.min)
		}
	}
	if c.Handler == nil {
		c.Handler = Echo{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}
