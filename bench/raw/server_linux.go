//go:build linux

package raw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"c1m/bench/internal/pubapi"
	"c1m/poller"
	"c1m/sysctl"
	"c1m/wsproto"
)

// Connection states.
const (
	stFree uint8 = iota
	stHandshake
	stOpen
	stClosing // a writer gave up on it (slow or broken); its loop closes it
)

// conn is one socket, stored by value in the fd-indexed table (40 bytes).
// mu guards state, loop, since and out, and every write to the socket once
// it is open: the writers of a broadcast and the owning loop (pongs, close
// echoes, flushes) take it, so frames never interleave. hs and rd belong
// to the owning loop alone.
type conn struct {
	mu    sync.Mutex
	state uint8
	loop  uint8  // index of the loop that accepted it and owns the fd
	since uint32 // when it was accepted, in seconds since Start (the handshake deadline)
	hs    *[]byte
	rd    *wsproto.Reader
	out   *outQueue
}

// Server is the benchmark's floor: a WebSocket server that upgrades,
// answers pings and closes, and writes one prebuilt frame to every socket
// on a publish, and nothing else. Its methods are safe for concurrent
// use; Start is called once, Shutdown at most once after it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	table []conn
	lfd   int
	loops []*loop
	send  func(fd int, b []byte) (int, error)

	startT   time.Time    // Start's time, the origin of conn.since
	maxFD    atomic.Int64 // one past the highest fd accepted: a broadcast's bound
	open     atomic.Int64 // upgraded connections
	live     atomic.Int64 // accepted sockets
	stopping atomic.Bool
	started  atomic.Bool

	pubMu   sync.Mutex // orders publishes and guards seq and closing
	seq     uint64
	closing bool
	fan     *fanout

	apiLn net.Listener
	api   *http.Server
	m     *serverMetrics
}

// New checks cfg and returns a Server that is not listening yet. The fd
// table covers the open-files limit, raised to its hard limit first.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	limit, err := sysctl.RaiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raw: cannot read the open-files limit: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, table: make([]conn, limit), lfd: -1, m: newServerMetrics()}
	s.send = sendNoSignal
	if cfg.Syscall == SyscallWrite {
		s.send = writeFD
	}
	s.m.open = func() float64 { return float64(s.open.Load()) }
	s.m.live = func() float64 { return float64(s.live.Load()) }
	s.m.register()
	return s, nil
}

// Start opens the WebSocket listener (one socket, watched by every loop
// with EPOLLEXCLUSIVE, as c1m serve does by default), the API listener,
// the loops and the fan-out writers.
func (s *Server) Start() error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	s.startT = time.Now()
	lfd, err := poller.Listen(s.cfg.Addr, poller.ListenConfig{})
	if err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	s.lfd = lfd
	apiLn, err := net.Listen("tcp", s.cfg.APIAddr)
	if err != nil {
		_ = unix.Close(lfd)
		return fmt.Errorf("raw: cannot listen on the API address: %w", err)
	}
	s.apiLn = apiLn
	for i := 0; i < s.cfg.Loops; i++ {
		l, err := newLoop(s, i)
		if err == nil {
			err = l.p.AddExclusive(lfd)
			if err != nil {
				_ = l.p.Close()
			}
		}
		if err != nil {
			for _, l := range s.loops {
				_ = l.p.Close()
			}
			_ = unix.Close(lfd)
			_ = apiLn.Close()
			return fmt.Errorf("raw: cannot start loop %d: %w", i, err)
		}
		s.loops = append(s.loops, l)
	}
	s.fan = newFanout(s)
	for _, l := range s.loops {
		go l.run()
	}
	s.api = &http.Server{
		Handler: pubapi.Handler(pubapi.Config{
			Name: "raw floor", APIKey: s.cfg.APIKey, Publish: s.Publish, Metrics: s.WriteMetrics,
		}),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
	}
	go func() {
		if err := s.api.Serve(apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("API server stopped", "err", err)
		}
	}()
	s.log.Info("raw floor listening", "addr", s.Addr(), "api", s.APIAddr(), "loops", s.cfg.Loops,
		"writers", s.cfg.Writers, "syscall", s.cfg.Syscall)
	return nil
}

// Addr returns the WebSocket listen address ("" before Start).
func (s *Server) Addr() string {
	if s.lfd < 0 {
		return ""
	}
	sa, err := unix.Getsockname(s.lfd)
	if err != nil {
		return ""
	}
	if a, ok := sa.(*unix.SockaddrInet4); ok {
		return fmt.Sprintf("%d.%d.%d.%d:%d", a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3], a.Port)
	}
	port, _ := poller.LocalPort(s.lfd)
	return fmt.Sprintf("[::]:%d", port)
}

// APIAddr returns the API listen address ("" before Start).
func (s *Server) APIAddr() string {
	if s.apiLn == nil {
		return ""
	}
	return s.apiLn.Addr().String()
}

// Conns returns the number of upgraded, open connections.
func (s *Server) Conns() int { return int(s.open.Load()) }

// Publish frames data (valid JSON) once, exactly as c1m frames a message
// to everyone, and queues it for the fan-out; it returns the message's
// seq. The fan-out writes messages in seq order, one at a time.
// ErrBusy: publishQueue messages are already waiting; ErrClosing: the
// server is shutting down.
func (s *Server) Publish(data []byte) (uint64, error) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if s.closing || s.fan == nil {
		return 0, pubapi.ErrClosing
	}
	frame := encode(s.seq+1, data)
	select {
	case s.fan.queue <- frame:
	default:
		return 0, pubapi.ErrBusy
	}
	s.seq++
	s.m.published.Inc()
	return s.seq, nil
}

// Shutdown stops the API and the fan-out (a broadcast under way
// finishes), sends every connection a 1001 close, closes every socket and
// returns when the loops and writers have exited, or ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.started.Load() {
		return nil
	}
	s.pubMu.Lock()
	if s.closing {
		s.pubMu.Unlock()
		return nil
	}
	s.closing = true
	close(s.fan.queue)
	s.pubMu.Unlock()
	err := s.api.Shutdown(ctx)
	if err != nil {
		_ = s.api.Close()
	}
	select {
	case <-s.fan.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.stopping.Store(true)
	for _, l := range s.loops {
		_ = l.p.Wake()
	}
	for _, l := range s.loops {
		select {
		case <-l.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		_ = l.p.Close()
	}
	_ = unix.Close(s.lfd)
	return err
}

// closeConn closes fd and frees its slot; why is counted in
// c1m_connections_closed_total (or c1m_handshake_failures_total for a
// socket that never upgraded). Only the owning loop calls it.
func (s *Server) closeConn(fd int, c *conn, why string) {
	c.mu.Lock()
	st, owner := c.state, c.loop
	if st == stFree {
		c.mu.Unlock()
		return
	}
	c.state = stFree
	c.out = nil
	// The loop-owned fields are reset under the lock too: once the fd is
	// closed its number may be accepted by another loop, and the lock is
	// what orders this loop's last writes before that loop's first.
	if c.rd != nil {
		c.rd.Reset()
		c.rd = nil
	}
	c.hs = nil
	c.mu.Unlock()
	// Counted before the close, so that whoever sees the socket closed
	// sees it counted.
	s.live.Add(-1)
	switch {
	case st == stHandshake:
		s.loops[owner].handshakes--
		s.m.handshakeFailure(why)
	case st == stClosing:
		// A writer that marked the connection closing counted its reason.
		s.open.Add(-1)
	default:
		s.open.Add(-1)
		s.m.closed(why)
	}
	_ = unix.Close(fd)
}
