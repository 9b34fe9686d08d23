package baseline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"c1m/internal/netaddr"
	"c1m/sysctl"

	"github.com/VictoriaMetrics/metrics"
	"github.com/gobwas/ws"
)

// Defaults.
const (
	DefaultPath     = "/ws"
	DefaultQueueLen = 256
	// ReadBufferSize is the per-connection bufio.Reader size (see the
	// package doc for why it is small).
	ReadBufferSize = 512
	// MaxMessage caps a client message, as c1m's default --max-message.
	MaxMessage = 64 << 10
	// handshakeTimeout bounds the upgrade request, like c1m's handshake
	// deadline.
	handshakeTimeout = 10 * time.Second
	// shutdownGrace is how long Shutdown lets writers flush the 1001 close
	// frame before it closes the remaining connections outright.
	shutdownGrace = 2 * time.Second
)

// Config configures a Server. Zero fields take the defaults named.
type Config struct {
	Addr    string // WebSocket listen address; port 0 picks one
	APIAddr string // HTTP API, /livez and /metrics listen address; port 0 picks one
	Path    string // upgrade path, DefaultPath; other paths get 404
	// QueueLen is each connection's queue, in frames, DefaultQueueLen.
	QueueLen int
	// APIKey is the bearer token /v1/ requests must carry. It may be empty
	// only when APIAddr is a loopback address (as for c1m serve).
	APIKey string
	Logger *slog.Logger // slog.DiscardHandler if nil
}

// Errors.
var (
	ErrAPIKeyRequired = errors.New("baseline: the publish API needs an API key on a non-loopback address")
	ErrStarted        = errors.New("baseline: server already started")
)

// Server is a goroutine-per-connection WebSocket server. Its methods are
// safe for concurrent use; Start is called once, Shutdown at most once
// after it.
type Server struct {
	cfg Config
	log *slog.Logger
	up  ws.Upgrader

	ln     net.Listener
	apiLn  net.Listener
	api    *http.Server
	wg     sync.WaitGroup // the accept loop, the API loop, every conn goroutine
	starts atomic.Bool

	mu      sync.RWMutex
	conns   map[*conn]struct{} // accepted connections, upgraded or not
	closing bool

	open atomic.Int64 // upgraded connections (c1m_connections)

	pubMu   sync.Mutex // orders publishes: seq order is queue order
	seq     uint64     // guarded by pubMu
	slowBuf []*conn    // guarded by pubMu

	slowLogged atomic.Bool
	set        *metrics.Set
	opened     *metrics.Counter
	slow       *metrics.Counter
	published  *metrics.Counter
}

// New checks cfg and returns a Server that is not listening yet.
func New(cfg Config) (*Server, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if cfg.QueueLen == 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Addr == "":
		return nil, errors.New("baseline: cannot create the server: the WebSocket address is empty")
	case cfg.APIAddr == "":
		return nil, errors.New("baseline: cannot create the server: the API address is empty")
	case cfg.Path[0] != '/':
		return nil, fmt.Errorf("baseline: cannot create the server: path %q does not start with /", cfg.Path)
	case cfg.QueueLen < 1:
		return nil, fmt.Errorf("baseline: cannot create the server: queue length must be positive, got %d", cfg.QueueLen)
	case cfg.APIKey == "" && !netaddr.IsLoopback(cfg.APIAddr):
		return nil, ErrAPIKeyRequired
	}
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}}
	path := []byte(cfg.Path)
	s.up = ws.Upgrader{
		// The URI is valid until the callback returns; it is only compared.
		OnRequest: func(uri []byte) error {
			if i := bytes.IndexByte(uri, '?'); i >= 0 {
				uri = uri[:i]
			}
			if !bytes.Equal(uri, path) {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound), ws.RejectionReason("no WebSocket endpoint at this path"))
			}
			return nil
		},
	}
	s.set = metrics.NewSet()
	s.set.NewGauge("c1m_connections", func() float64 { return float64(s.open.Load()) })
	s.opened = s.set.NewCounter("c1m_connections_opened_total")
	s.slow = s.set.NewCounter(`c1m_connections_closed_total{reason="slow"}`)
	s.published = s.set.NewCounter("c1m_published_total")
	return s, nil
}

// Start raises the open-files limit, listens on both addresses and serves
// in the background.
func (s *Server) Start() error {
	if !s.starts.CompareAndSwap(false, true) {
		return ErrStarted
	}
	if _, err := sysctl.RaiseFileLimit(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", s.cfg.Addr, err)
	}
	apiLn, err := net.Listen("tcp", s.cfg.APIAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("cannot listen on API address %s: %w", s.cfg.APIAddr, err)
	}
	s.ln, s.apiLn = ln, apiLn
	s.api = &http.Server{Handler: s.apiHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	s.wg.Add(2)
	go s.acceptLoop()
	go func() {
		defer s.wg.Done()
		if err := s.api.Serve(apiLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("API server stopped", "err", err)
		}
	}()
	s.log.Info("baseline listening", "addr", s.Addr(), "api", s.APIAddr(), "path", s.cfg.Path)
	return nil
}

// Addr returns the WebSocket listen address ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
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

// acceptLoop accepts until the listener closes, one goroutine per
// connection.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE/ENFILE and friends: back off as net/http does
			// (server.go, Serve) instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("cannot accept; backing off", "err", err, "delay", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &conn{s: s, nc: nc}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go c.serve()
	}
}

// remove forgets c; called once per connection by c.close.
func (s *Server) remove(c *conn, upgraded bool) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if upgraded {
		s.open.Add(-1)
	}
}

// Shutdown stops accepting and publishing, sends every connection a 1001
// close, closes what is left after a short grace (or when ctx ends), and
// returns when every goroutine the server started has exited.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.starts.Load() {
		return nil
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	s.ln.Close()
	err := s.api.Shutdown(ctx)
	if err != nil {
		_ = s.api.Close()
	}

	s.mu.RLock()
	all := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.RUnlock()
	for _, c := range all {
		if !c.upgraded.Load() || !c.enqueue(&goingAwayFrame) {
			c.close()
		}
	}

	grace := time.NewTimer(shutdownGrace)
	defer grace.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.liveConns() > 0 {
		select {
		case <-ctx.Done():
			err = ctx.Err()
			break wait
		case <-grace.C:
			break wait
		case <-tick.C:
		}
	}
	s.mu.RLock()
	all = all[:0]
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.RUnlock()
	for _, c := range all {
		c.close()
	}
	s.wg.Wait()
	return err
}

func (s *Server) liveConns() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}
