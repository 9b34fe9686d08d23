//go:build linux

package server

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"c1m/poller"
	"c1m/wsproto"
)

const (
	// readBufSize is the one read buffer each loop shares among all its
	// connections (ARCHITECTURE.md, "Read").
	readBufSize = 64 << 10
	// maxReadsPerWake caps read(2) calls per connection per wake-up, so
	// that one client streaming at full speed cannot starve the loop's
	// other connections; level-triggered epoll reports it again at once.
	maxReadsPerWake = 4
	// maxAcceptsPerWake caps accept4(2) per wake-up for the same reason:
	// a connection storm must not keep the loop from reading.
	maxAcceptsPerWake = 256
)

// loop is one epoll event loop: it accepts, reads, parses and runs the
// handler for the connections it accepted, and flushes their queues. Its
// fields are touched by its own goroutine only, except p (thread-safe) and
// the inbox (under inboxMu).
type loop struct {
	s     *Server
	id    int
	p     *poller.Poller
	lfds  []int // listeners this loop polls
	start time.Time
	tick  time.Duration
	now   uint32 // current wheel tick
	wheel wheel
	rng   uint64

	buf  []byte // shared read buffer
	wbuf []byte // scratch for handshake responses and control frames
	rbuf []byte // scratch for handler replies (Conn.Scratch)
	iov  [64]unix.Iovec
	// rawAddr receives accept4's peer address when AcceptRatePerIP needs
	// it (a loop field, so that taking it allocates nothing).
	rawAddr unix.RawSockaddrAny
	segs    [][]byte // scratch for flush: the queue's pending slices
	// pong is the payload of the most recent ping of the read being fed;
	// it is answered once the whole read is parsed (RFC 6455 §5.5.3 lets
	// an endpoint answer only the most recent of several pings).
	pong     [wsproto.MaxControlPayload]byte
	pongN    int
	pongWant bool
	rd       wsproto.Reader // scratch reader for connections with no partial state
	up       wsproto.Upgrader
	hs       hsScratch
	ident    Identity // of the connection being opened, during OnOpen
	sink     loopSink
	cb       func(fd int, ev poller.Events) error

	owned      int  // sockets owned by this loop (any state but free)
	listenOff  bool // listeners removed for good (draining)
	acceptOff  bool
	acceptTick uint32 // tick at which paused listeners are re-armed

	inboxMu sync.Mutex
	inbox   []closeReq
	spare   []closeReq

	// draining state (loop only)
	drainOn     bool
	drainCursor int
	drainBudget float64
	drainShare  float64       // this loop's part of DrainRate
	closed      chan struct{} // closed when the loop has exited
}

// closeReq asks the owning loop to close a connection from another
// goroutine (Conn.Close, a slow consumer found by a broadcast worker).
type closeReq struct {
	fd     int32
	gen    uint32
	code   wsproto.StatusCode
	reason string
	why    string
}

// run is the loop goroutine.
func (l *loop) run() {
	defer close(l.closed)
	busy := l.s.m.loopBusy[l.id]
	for {
		if l.s.stopping.Load() {
			l.forceCloseAll()
			return
		}
		timeout := l.msToNextTick()
		n, err := l.p.Poll(timeout)
		// Busy time runs from the wake-up, so that it covers the event
		// callbacks (reads, parsing, handlers, flushes) as well as the
		// timers: the loop's whole work, none of its waiting.
		t0 := time.Now()
		if err == nil {
			err = l.p.Dispatch(n, l.cb)
		}
		if err != nil {
			if errors.Is(err, poller.ErrClosed) {
				return
			}
			l.s.log.Error("event loop wait failed", "loop", l.id, "err", err)
			time.Sleep(10 * time.Millisecond)
		}
		if now := uint32(t0.Sub(l.start) / l.tick); now != l.wheel.now {
			l.now = now
			l.wheel.advance(l.s.table, now, l.fire)
			l.onTick()
		}
		busy.Add(time.Since(t0).Seconds())
	}
}

func (l *loop) msToNextTick() int {
	next := l.start.Add(time.Duration(l.wheel.now+1) * l.tick)
	ms := int(time.Until(next)/time.Millisecond) + 1
	if ms < 1 {
		ms = 0
	}
	return ms
}

// onEvent is the poller callback.
func (l *loop) onEvent(fd int, ev poller.Events) error {
	if fd == poller.WakeFD {
		l.drainInbox()
		return nil
	}
	for _, lfd := range l.lfds {
		if fd == lfd {
			l.acceptMany(fd)
			return nil
		}
	}
	if fd >= len(l.s.table) {
		return nil
	}
	// Keep the tick fresh for the connection's seen stamp.
	sl := &l.s.table[fd]
	switch sl.state {
	case stHandshake:
		l.readHandshake(int32(fd), sl)
	case stOpen:
		if ev&poller.EventWrite != 0 && l.flush(int32(fd), sl) {
			l.abort(int32(fd), sl, reasonWriteFailed)
			return nil
		}
		if ev&(poller.EventRead|poller.EventHup|poller.EventErr) != 0 {
			l.readFrames(int32(fd), sl)
		}
	case stClosing:
		if ev&poller.EventWrite != 0 && l.flush(int32(fd), sl) {
			l.finalClose(int32(fd), sl)
			return nil
		}
		if ev&(poller.EventRead|poller.EventHup|poller.EventErr) != 0 {
			l.readDiscard(int32(fd), sl)
		}
	}
	return nil
}

// acceptMany accepts up to maxAcceptsPerWake pending connections.
func (l *loop) acceptMany(lfd int) {
	s := l.s
	if s.draining.Load() {
		// Shutdown shut the listeners (SHUT_RD): they now poll readable
		// and accept4 fails with EINVAL. Stop polling them here, before
		// the drain step would, so the loop does not spin on them.
		l.stopListening()
		return
	}
	for i := 0; i < maxAcceptsPerWake; i++ {
		var fd int
		var peer poller.PeerAddr
		var err error
		if s.ipRate != nil {
			fd, peer, err = poller.AcceptFrom(lfd, &l.rawAddr)
		} else {
			fd, err = poller.Accept(lfd)
		}
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				// Out of descriptors: the pending connection stays in the
				// backlog and would wake us in a busy loop. Stop polling
				// the listeners for a moment (accept(2), "EMFILE").
				s.logEvery(&s.lastEMFILE, "cannot accept: out of file descriptors; pausing accepts for 100ms", "err", err, "sockets", s.live.Load())
				l.pauseAccept()
				return
			}
			s.logEvery(&s.lastAcceptErr, "cannot accept", "loop", l.id, "err", err)
			return
		}
		if fd >= len(s.table) {
			// Cannot happen while the table covers RLIMIT_NOFILE; refuse
			// rather than index out of range.
			_ = unix.Close(fd)
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if s.cfg.SendBuffer > 0 {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, s.cfg.SendBuffer)
		}
		sl := &s.table[fd]
		sl.mu.Lock()
		sl.state = stHandshake
		sl.loop = uint8(l.id)
		sl.flags = 0
		sl.mu.Unlock()
		sl.lflags = 0
		sl.next, sl.prev = -1, -1
		sl.seen = l.now
		if s.live.Add(1) > int64(s.maxConns) || s.draining.Load() {
			sl.lflags |= lflagReject
		} else if s.ipRate != nil && !s.ipRate.allow(peer, int64(time.Since(l.start))) {
			sl.lflags |= lflagRateIP
		}
		l.owned++
		if err := l.p.Add(fd, poller.EventRead); err != nil {
			s.log.Warn("cannot register connection", "err", err)
			l.finalClose(int32(fd), sl)
			continue
		}
		l.wheel.schedule(s.table, int32(fd), l.ticks(s.cfg.HandshakeTimeout))
	}
}

// stopListening takes the listeners out of this loop's epoll set for
// good (draining). Idempotent.
func (l *loop) stopListening() {
	if l.listenOff {
		return
	}
	l.listenOff = true
	for _, lfd := range l.lfds {
		_ = l.p.Del(lfd)
	}
}

func (l *loop) pauseAccept() {
	for _, lfd := range l.lfds {
		_ = l.p.Del(lfd)
	}
	l.acceptOff = true
	l.acceptTick = l.now + l.ticks(100*time.Millisecond)
}

func (l *loop) resumeAccept() {
	l.acceptOff = false
	for _, lfd := range l.lfds {
		if err := l.addListener(lfd); err != nil {
			l.s.log.Error("cannot re-arm listener", "loop", l.id, "err", err)
		}
	}
}

func (l *loop) addListener(lfd int) error {
	if l.s.cfg.ReusePort {
		return l.p.Add(lfd, poller.EventRead)
	}
	return l.p.AddExclusive(lfd)
}

// ticks converts d to wheel ticks, at least 1.
func (l *loop) ticks(d time.Duration) uint32 {
	t := uint32((d + l.tick - 1) / l.tick)
	if t < 1 {
		t = 1
	}
	return t
}

// random returns a pseudo-random number (xorshift; loop only).
func (l *loop) random() uint64 {
	l.rng ^= l.rng << 13
	l.rng ^= l.rng >> 7
	l.rng ^= l.rng << 17
	return l.rng
}

// onTick runs once per wheel tick, after due entries fired.
func (l *loop) onTick() {
	if l.acceptOff && !l.listenOff && int32(l.now-l.acceptTick) >= 0 {
		l.resumeAccept()
	}
	if l.s.closing.Load() {
		l.drainStep()
	}
}

// drainInbox runs close requests posted by other goroutines.
func (l *loop) drainInbox() {
	l.inboxMu.Lock()
	reqs := l.inbox
	l.inbox = l.spare[:0]
	l.inboxMu.Unlock()
	for _, r := range reqs {
		sl := &l.s.table[r.fd]
		if sl.gen != r.gen {
			continue
		}
		switch sl.state {
		case stOpen:
			l.closeWith(r.fd, sl, r.code, r.reason, r.why)
		case stHandshake:
			l.finalClose(r.fd, sl)
		}
	}
	clear(reqs)
	l.spare = reqs[:0]
	if l.s.draining.Load() {
		l.stopListening()
	}
	if l.s.closing.Load() && !l.drainOn {
		l.drainStep()
	}
}

// requestClose posts a close request to the loop owning fd; safe from any
// goroutine, including the loop itself.
func (s *Server) requestClose(fd int32, gen uint32, code wsproto.StatusCode, reason, why string) {
	if fd < 0 || int(fd) >= len(s.table) {
		return
	}
	sl := &s.table[fd]
	sl.mu.Lock()
	ok := sl.gen == gen && (sl.state == stOpen || sl.state == stHandshake) && sl.flags&flagCloseReq == 0
	if ok {
		// One request per connection in flight keeps the inbox bounded by
		// the number of connections, however often writers see it slow.
		sl.flags |= flagCloseReq
	}
	lp := sl.loop
	sl.mu.Unlock()
	if !ok {
		return
	}
	l := s.loops[lp]
	l.inboxMu.Lock()
	l.inbox = append(l.inbox, closeReq{fd: fd, gen: gen, code: code, reason: reason, why: why})
	l.inboxMu.Unlock()
	_ = l.p.Wake()
}

// fire runs when a connection's wheel entry is due: the handshake
// deadline, the next heartbeat, or the end of the close linger.
func (l *loop) fire(fd int32) {
	s := l.s
	sl := &s.table[fd]
	switch sl.state {
	case stHandshake:
		// The handshake deadline passed (a slowloris or a silent socket).
		s.m.hsFailures[hsTimeout].Inc()
		l.sendAndLinger(fd, sl, wsproto.AppendHTTPError(l.wbuf[:0], 408, "handshake timeout"))
	case stOpen:
		l.heartbeat(fd, sl)
	case stClosing:
		// The peer did not finish the close handshake in time.
		l.finalClose(fd, sl)
	}
}
