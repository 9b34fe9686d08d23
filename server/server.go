package server

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/wsproto"
)

// Server is a WebSocket server on raw epoll loops. Create it with New, start
// it with Start, stop it with Shutdown. Its methods are safe for concurrent
// use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *serverMetrics
	rcfg     wsproto.Config
	maxConns int
	started  time.Time

	// table is indexed by fd and covers RLIMIT_NOFILE, so every fd the
	// process can hold has a slot. Untouched slots cost no resident
	// memory: the kernel maps their zero pages lazily.
	table   []slot
	loops   []*loop
	lfds    []int
	port    int
	readers sync.Pool // *wsproto.Reader for connections mid-frame
	ipRate  *ipRate   // nil unless Config.AcceptRatePerIP (and not ProxyProtocol)
	addrs   clientAddrs
	hsPool  hsPool

	open   atomic.Int64 // upgraded connections (c1m_connections)
	queued atomic.Int64 // bytes waiting in out queues (c1m_queued_bytes)
	live   atomic.Int64 // accepted sockets in any state
	// The drain's stages (Shutdown): deregistered (/readyz 503), draining
	// (listeners shut, no new sockets), closing (connections get their
	// close frames at closeRate per second), stopping (loops exit).
	deregistered atomic.Bool
	draining     atomic.Bool
	closing      atomic.Bool
	closeRate    atomic.Int64
	stopping     atomic.Bool

	drainedMu sync.Mutex
	drained   map[int]bool
	allDrain  chan struct{}

	lastEMFILE     atomic.Int64
	lastAcceptErr  atomic.Int64
	lastHandlerErr atomic.Int64

	health  healthChecks
	rssBase int64 // resident bytes when Start finished, for c1m_memory_per_connection_bytes
	http    *httpServer
	running bool // loops started; set by Start before it returns
}

// Stats is a snapshot of a Server's connection counts.
type Stats struct {
	Open     int64 // upgraded WebSocket connections
	Sockets  int64 // accepted sockets, including handshakes and closes in progress
	Queued   int64 // bytes waiting in per-connection out queues
	MaxConns int
	Draining bool // Shutdown has begun (from the deregistration window on)
}

// Stats returns current counts; safe from any goroutine.
func (s *Server) Stats() Stats {
	return Stats{Open: s.open.Load(), Sockets: s.live.Load(), Queued: s.queued.Load(), MaxConns: s.maxConns, Draining: s.deregistered.Load()}
}

// MaxFDs returns the size of the fd-indexed connection table: every
// connection's FD is below it, so a handler may size tables of its own
// by it.
func (s *Server) MaxFDs() int { return len(s.table) }

// Metrics returns the Set the engine's metrics live in, served on
// /metrics. A handler registers its own metrics here (before Start), so
// that one scrape shows both. Safe for concurrent use.
func (s *Server) Metrics() *metrics.Set { return s.m.set }

// Port returns the WebSocket listener's port (useful with ":0").
func (s *Server) Port() int { return s.port }

// MetricsAddr returns the metrics listener's address, or "" when disabled.
func (s *Server) MetricsAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.addr()
}

// logEvery logs msg at most once every 10 s per call site (last), so that
// a storm of the same failure gives an operator one actionable line, not a
// flood.
func (s *Server) logEvery(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(10*time.Second) || !last.CompareAndSwap(prev, now) {
		return
	}
	s.log.Warn(msg, args...)
}

func (c Config) String() string {
	return fmt.Sprintf("addr=%s path=%s loops=%d max-conns=%d", c.Addr, c.Path, c.Loops, c.MaxConns)
}
