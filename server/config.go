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
	// DefaultDrainDelay is the deregistration window: how long /readyz
	// answers 503 before the listeners shut, so that a load balancer
	// checking every few seconds has stopped sending clients.
	DefaultDrainDelay = 5 * time.Second
	DefaultMaxPending = 256 << 10
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
	// DrainDelay is the deregistration window of a drain (Shutdown):
	// /readyz answers 503 this long before the listeners shut.
	// DefaultDrainDelay; negative means none.
	DrainDelay time.Duration
	// DrainTimeout bounds the rest of a drain, after DrainDelay: what is
	// still open when it ends is closed. DefaultDrainTimeout.
	DrainTimeout time.Duration
	// DrainRate is how many close frames per second a drain sends. 0
	// derives it when the drain starts: the open connections spread over
	// three quarters of what is left of DrainTimeout. A rate that cannot
	// close MaxConns connections within DrainTimeout is refused by New.
	DrainRate   int
	CloseLinger time.Duration // DefaultCloseLinger

	MaxMessage     int // wsproto.DefaultMaxMessage
	MaxHeaderBytes int // wsproto.DefaultMaxHeaderBytes
	MaxPending     int // queued outbound bytes per connection, DefaultMaxPending
	// SendBuffer sets SO_SNDBUF on every accepted socket; 0 leaves the
	// kernel's autotuning (up to net.ipv4.tcp_wmem's maximum, 4 MiB by
	// default). A client that stops reading pins its socket's send buffer
	// plus MaxPending; setting this caps the kernel part too.
	SendBuffer int

	// AcceptRatePerIP limits new connections per source address (an IPv6
	// client per /64) to this many per second, with a burst of twice that
	// (at least 8); past it the handshake is answered 429. 0 turns it off,
	// the default: behind an L4 load balancer every source is the
	// balancer, unless it speaks the PROXY protocol.
	AcceptRatePerIP float64
	// ProxyProtocol makes every connection start with a PROXY protocol
	// header (v2 binary, or v1 text), as a load balancer that relays TCP
	// writes it (HAProxy's send-proxy-v2), ahead of the upgrade request.
	// The client's address is taken from it: AcceptRatePerIP, the logs
	// and Conn.RemoteAddr see the real client, not the balancer. A
	// connection without a valid header is closed and counted as
	// c1m_handshake_failures_total{reason="proxy_protocol"}. Off by
	// default, and then no header is looked for: turn it on only when
	// every client comes through such a balancer, since whoever can
	// reach the listener directly can claim any address with it.
	ProxyProtocol bool
	// DebugGC serves POST /debug/gc on the metrics listener (internal/debuggc):
	// a full collection on demand, for benchmarks that read memory per
	// connection. Off by default, and then the path is 404: an operator's
	// listener that Prometheus scrapes from elsewhere must not let
	// whoever reaches it spend the server's CPU on collections.
	DebugGC bool

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
	if c.AcceptRatePerIP < 0 {
		return c, fmt.Errorf("cannot use accept-rate-per-ip %v: it must not be negative", c.AcceptRatePerIP)
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
	switch {
	case c.DrainDelay == 0:
		c.DrainDelay = DefaultDrainDelay
	case c.DrainDelay < 0:
		c.DrainDelay = 0
	}
	if c.DrainRate < 0 {
		return c, fmt.Errorf("cannot use drain-rate %d: it must not be negative (0 derives it)", c.DrainRate)
	}
	ints := []struct {
		name string
		p    *int
		def  int
		min  int
	}{
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

// checkDrain refuses an explicit drain rate that cannot close maxConns
// connections within the drain timeout: the rest would be cut without a
// close frame, all at once, at the end.
func (c Config) checkDrain(maxConns int) error {
	if c.DrainRate == 0 {
		return nil
	}
	if need := float64(maxConns) / c.DrainTimeout.Seconds(); float64(c.DrainRate) < need {
		return fmt.Errorf("cannot drain up to %d connections at %d/s within the %v drain timeout: raise --drain-rate to at least %.0f, raise --drain-timeout to at least %v, or set --drain-rate 0 to derive it",
			maxConns, c.DrainRate, c.DrainTimeout, need+0.5, (time.Duration(float64(maxConns) / float64(c.DrainRate) * float64(time.Second))).Round(time.Second))
	}
	return nil
}
