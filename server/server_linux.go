//go:build linux

package server

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"c1m/poller"
	"c1m/wsproto"
)

// New validates cfg and builds a Server; nothing listens until Start.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	limit, err := fileLimit()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		rcfg:     wsproto.Config{MaxMessage: cfg.MaxMessage},
		maxConns: cfg.MaxConns,
		table:    make([]slot, limit),
		hsPool:   hsPool{size: cfg.MaxHeaderBytes + proxyReserve(cfg)},
		drained:  map[int]bool{},
		allDrain: make(chan struct{}),
	}
	if s.maxConns == 0 {
		s.maxConns = max(limit-FDReserve, 1)
	}
	if err := cfg.checkDrain(s.maxConns); err != nil {
		return nil, err
	}
	s.readers.New = func() any { return new(wsproto.Reader) }
	if r := cfg.AcceptRatePerIP; r > 0 {
		s.ipRate = newIPRate(r, max(int(2*r), 8))
	}
	s.initClientAddrs(limit)
	s.m = newServerMetrics(cfg.Loops,
		func() float64 { return float64(s.open.Load()) },
		func() float64 { return float64(s.live.Load()) },
		func() float64 { return float64(s.queued.Load()) })
	s.registerStateMetrics(limit)
	return s, nil
}

// Capacity returns how many sockets the open-files limit allows after the
// reserve, and the effective max-conns.
func (s *Server) Capacity() (fileLimit, maxConns int) {
	return len(s.table) - FDReserve, s.maxConns
}

// Start opens the listeners and the metrics endpoint and starts the loops.
func (s *Server) Start() error {
	cfg := s.cfg
	s.started = time.Now()
	n := 1
	if cfg.ReusePort {
		n = cfg.Loops
	}
	for i := 0; i < n; i++ {
		addr := cfg.Addr
		if i > 0 {
			// Every SO_REUSEPORT listener binds the port the first got
			// (which matters with ":0").
			addr = fmt.Sprintf("%s:%d", hostOf(cfg.Addr), s.port)
		}
		fd, err := poller.Listen(addr, poller.ListenConfig{ReusePort: cfg.ReusePort})
		if err != nil {
			s.closeListeners()
			return err
		}
		s.lfds = append(s.lfds, fd)
		if i == 0 {
			if s.port, err = poller.LocalPort(fd); err != nil {
				s.closeListeners()
				return err
			}
		}
	}
	tick := tickFor(cfg)
	span := int((max(cfg.HandshakeTimeout, 2*cfg.PingInterval, cfg.CloseLinger, 100*time.Millisecond)+tick-1)/tick) + 2
	for i := 0; i < cfg.Loops; i++ {
		p, err := poller.New()
		if err != nil {
			s.stopLoops()
			s.closeListeners()
			return err
		}
		l := &loop{
			s: s, id: i, p: p, start: s.started, tick: tick,
			wheel:  newWheel(span),
			rng:    uint64(time.Now().UnixNano()) | 1 + uint64(i)<<32,
			buf:    make([]byte, readBufSize),
			wbuf:   make([]byte, 0, 4096),
			rbuf:   make([]byte, 0, 4096),
			segs:   make([][]byte, 0, 64),
			closed: make(chan struct{}),
		}
		l.sink.l = l
		l.cb = l.onEvent
		l.initUpgrader()
		if cfg.ReusePort {
			l.lfds = []int{s.lfds[i]}
		} else {
			l.lfds = s.lfds
		}
		for _, lfd := range l.lfds {
			if err := l.addListener(lfd); err != nil {
				_ = p.Close()
				s.stopLoops()
				s.closeListeners()
				return fmt.Errorf("cannot register listener: %w", err)
			}
		}
		s.loops = append(s.loops, l)
	}
	if cfg.MetricsAddr != "-" {
		if err := s.startHTTP(); err != nil {
			s.stopLoops()
			s.closeListeners()
			return err
		}
	}
	for _, l := range s.loops {
		go l.run()
	}
	s.running = true
	s.rssBase, _ = residentBytes()
	return nil
}

// tickFor picks the timing wheel's tick: fine enough for the shortest
// timeout (a quarter of it), never finer than 1 ms nor coarser than 100 ms.
func tickFor(cfg Config) time.Duration {
	t := min(cfg.HandshakeTimeout, cfg.PingInterval, cfg.CloseLinger) / 4
	return min(max(t, time.Millisecond), 100*time.Millisecond)
}

func hostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i]
		}
	}
	return addr
}

// stopLoops makes every loop close what it still owns and exit, then
// releases the pollers.
func (s *Server) stopLoops() {
	s.stopping.Store(true)
	for _, l := range s.loops {
		_ = l.p.Wake()
	}
	for _, l := range s.loops {
		if s.running {
			select {
			case <-l.closed:
			case <-time.After(10 * time.Second):
				s.log.Error("event loop did not stop", "loop", l.id)
			}
		}
		_ = l.p.Close()
	}
}

func (s *Server) closeListeners() {
	for _, fd := range s.lfds {
		_ = unix.Close(fd)
	}
	s.lfds = nil
}
