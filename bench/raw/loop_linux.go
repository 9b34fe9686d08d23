//go:build linux

package raw

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"c1m/poller"
	"c1m/wsproto"
)

const (
	// readBufSize is each loop's one read buffer, as c1m's.
	readBufSize = 64 << 10
	// maxAcceptsPerWake and maxReadsPerWake keep one busy listener or
	// client from starving the other sockets of the loop (c1m's caps).
	maxAcceptsPerWake = 256
	maxReadsPerWake   = 4
)

// Close and handshake-failure reasons, the label values of the metrics
// (c1m's names where c1m has the same reason).
const (
	reasonPeerClose   = "peer_close"
	reasonPeerGone    = "peer_gone"
	reasonProtocol    = "protocol"
	reasonSlow        = "slow_consumer"
	reasonWriteFailed = "write_failed"
	reasonShutdown    = "drain"
	hsTimeout         = "timeout"
	hsTooLarge        = "header_too_large"
	hsBadRequest      = "bad_request"
)

// errStop ends a Feed after a close frame (RFC 6455 §5.5.1: after a Close
// frame the endpoint does not process further data).
var errStop = errors.New("raw: close frame received")

// loop is one epoll loop: it accepts from the shared listener, upgrades,
// reads (pings get pongs, a close gets a close), and flushes the queues
// of the sockets it accepted. One goroutine runs it.
type loop struct {
	s    *Server
	id   int
	p    *poller.Poller
	buf  []byte
	wbuf []byte
	up   wsproto.Upgrader
	rcfg wsproto.Config
	rd   wsproto.Reader // scratch for sockets with no partial frame
	sink sink
	// handshakes counts this loop's sockets waiting for their upgrade
	// request; while there are any, sweepHandshakes walks the table once a
	// second. Loop only.
	handshakes int
	lastSweep  time.Time
	cb         func(fd int, ev poller.Events) error
	done       chan struct{}
}

func newLoop(s *Server, id int) (*loop, error) {
	p, err := poller.New()
	if err != nil {
		return nil, err
	}
	l := &loop{
		s: s, id: id, p: p,
		buf:  make([]byte, readBufSize),
		wbuf: make([]byte, 0, 256),
		up:   wsproto.Upgrader{Path: s.cfg.Path, MaxHeaderBytes: DefaultMaxHeaderBytes},
		rcfg: wsproto.Config{MaxMessage: MaxMessage},
		done: make(chan struct{}),
	}
	l.sink.l = l
	l.cb = l.onEvent
	return l, nil
}

func (l *loop) run() {
	defer close(l.done)
	for !l.s.stopping.Load() {
		err := l.p.Wait(1000, l.cb)
		if err != nil {
			if !errors.Is(err, poller.ErrClosed) {
				l.s.log.Error("event loop stopped", "loop", l.id, "err", err)
			}
			break
		}
		if now := time.Now(); l.handshakes > 0 && now.Sub(l.lastSweep) >= time.Second {
			l.lastSweep = now
			l.sweepHandshakes(now)
		}
	}
	l.closeAll()
}

func (l *loop) onEvent(fd int, ev poller.Events) error {
	s := l.s
	switch {
	case fd == poller.WakeFD:
		return nil
	case fd == s.lfd:
		l.acceptMany()
		return nil
	case fd < 0 || fd >= len(s.table):
		return nil
	}
	c := &s.table[fd]
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	switch st {
	case stHandshake:
		l.readHandshake(fd, c)
	case stOpen:
		if ev&poller.EventWrite != 0 {
			s.flush(fd, c)
		}
		if ev&(poller.EventRead|poller.EventHup|poller.EventErr) != 0 {
			l.readFrames(fd, c)
		}
	case stClosing:
		s.closeConn(fd, c, "")
	}
	return nil
}

// acceptMany accepts up to maxAcceptsPerWake pending connections.
func (l *loop) acceptMany() {
	s := l.s
	for i := 0; i < maxAcceptsPerWake && !s.stopping.Load(); i++ {
		fd, err := poller.Accept(s.lfd)
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) {
				s.log.Warn("cannot accept", "loop", l.id, "err", err)
			}
			return
		}
		if fd >= len(s.table) {
			_ = unix.Close(fd)
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if s.cfg.SendBuffer > 0 {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, s.cfg.SendBuffer)
		}
		c := &s.table[fd]
		c.mu.Lock()
		c.state = stHandshake
		c.loop = uint8(l.id)
		c.since = uint32(time.Since(s.startT) / time.Second)
		c.mu.Unlock()
		s.live.Add(1)
		l.handshakes++
		for {
			m := s.maxFD.Load()
			if int64(fd) < m || s.maxFD.CompareAndSwap(m, int64(fd)+1) {
				break
			}
		}
		if err := l.p.Add(fd, poller.EventRead); err != nil {
			s.log.Warn("cannot register connection", "err", err)
			s.closeConn(fd, c, hsBadRequest)
		}
	}
}

// sweepHandshakes closes this loop's sockets whose upgrade request did not
// arrive within the handshake timeout (to the second). It walks the
// table, which costs nothing per socket in memory; it runs only while
// handshakes are pending.
func (l *loop) sweepHandshakes(now time.Time) {
	s := l.s
	limit := int64(now.Sub(s.startT)/time.Second) - int64((s.cfg.HandshakeTimeout+time.Second-1)/time.Second)
	hi := int(s.maxFD.Load())
	for fd := 0; fd < hi; fd++ {
		c := &s.table[fd]
		c.mu.Lock()
		late := c.state == stHandshake && int(c.loop) == l.id && int64(c.since) <= limit
		c.mu.Unlock()
		if late {
			s.closeConn(fd, c, hsTimeout)
		}
	}
}

// readHandshake gathers the request head (usually one read), upgrades
// with wsproto (which checks the request as c1m does, without copying
// headers) and opens the connection. A head split over reads is kept in
// a buffer of the socket's own until it is complete.
func (l *loop) readHandshake(fd int, c *conn) {
	s := l.s
	n, err := readFD(fd, l.buf)
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		s.closeConn(fd, c, reasonPeerGone)
		return
	}
	data := l.buf[:n]
	if c.hs != nil {
		if len(*c.hs)+n > DefaultMaxHeaderBytes {
			l.tooLarge(fd, c)
			return
		}
		*c.hs = append(*c.hs, data...)
		data = *c.hs
	}
	end := wsproto.RequestEnd(data)
	if end < 0 || end > DefaultMaxHeaderBytes {
		if end > DefaultMaxHeaderBytes || len(data) >= DefaultMaxHeaderBytes {
			l.tooLarge(fd, c)
			return
		}
		if c.hs == nil {
			b := make([]byte, 0, DefaultMaxHeaderBytes)
			b = append(b, data...)
			c.hs = &b
		}
		return
	}
	resp, _, err := l.up.Upgrade(data[:end], l.wbuf[:0])
	if err != nil {
		_, _ = writeFD(fd, resp)
		s.closeConn(fd, c, hsBadRequest)
		return
	}
	if n, _ := writeFD(fd, resp); n != len(resp) {
		s.closeConn(fd, c, reasonPeerGone)
		return
	}
	rest := data[end:]
	c.mu.Lock()
	c.state = stOpen
	c.mu.Unlock()
	l.handshakes--
	s.open.Add(1)
	s.m.opened.Inc()
	if len(rest) > 0 {
		l.feed(fd, c, rest) // Feed copies what it keeps
	}
	c.hs = nil
}

// tooLarge refuses a request head over DefaultMaxHeaderBytes with 431
// (RFC 6585 §5: Request Header Fields Too Large).
func (l *loop) tooLarge(fd int, c *conn) {
	_, _ = writeFD(fd, wsproto.AppendHTTPError(l.wbuf[:0], 431, "request header fields too large"))
	l.s.closeConn(fd, c, hsTooLarge)
}

// readFrames reads what the client sent, up to maxReadsPerWake buffers.
func (l *loop) readFrames(fd int, c *conn) {
	for i := 0; i < maxReadsPerWake; i++ {
		n, err := readFD(fd, l.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.s.closeConn(fd, c, reasonPeerGone)
			return
		}
		if !l.feed(fd, c, l.buf[:n]) || n < len(l.buf) {
			return
		}
	}
}

// feed parses data; it reports false when the connection was closed.
func (l *loop) feed(fd int, c *conn, data []byte) bool {
	r := c.rd
	if r == nil {
		r = &l.rd
	}
	l.sink.fd, l.sink.c = fd, c
	err := r.Feed(data, &l.rcfg, &l.sink)
	switch {
	case err != nil:
		r.Reset()
		c.rd = nil
	case r == &l.rd && !r.Idle():
		// An unfinished frame: it moves to a Reader of the socket's own.
		c.rd = new(wsproto.Reader)
		*c.rd = l.rd
		l.rd = wsproto.Reader{}
	case r != &l.rd && r.Idle():
		r.Reset()
		c.rd = nil
	}
	if err == nil {
		return true
	}
	var ce *wsproto.CloseError
	switch {
	case errors.Is(err, errStop):
		l.s.closeConn(fd, c, reasonPeerClose)
	case errors.As(err, &ce):
		l.s.sendControl(fd, c, wsproto.AppendClose(l.wbuf[:0], ce.Code, ""))
		l.s.closeConn(fd, c, reasonProtocol)
	default:
		l.s.closeConn(fd, c, reasonProtocol)
	}
	return false
}

// closeAll sends every socket of this loop a 1001 close and closes it
// (Shutdown).
func (l *loop) closeAll() {
	s := l.s
	frame := wsproto.AppendClose(nil, wsproto.CloseGoingAway, "server shutting down")
	for fd := range s.table {
		c := &s.table[fd]
		c.mu.Lock()
		mine := c.state != stFree && int(c.loop) == l.id
		open := c.state == stOpen && c.out == nil
		c.mu.Unlock()
		if !mine {
			continue
		}
		if open {
			s.sendControl(fd, c, frame)
		}
		s.closeConn(fd, c, reasonShutdown)
	}
}

// sink answers the frames of one socket; the loop sets fd and c before
// each Feed.
type sink struct {
	l  *loop
	fd int
	c  *conn
}

// OnMessage discards data messages: the floor only fans out.
func (k *sink) OnMessage(op wsproto.OpCode, p []byte) error { return nil }

// OnPing answers with a pong carrying the same payload (RFC 6455 §5.5.3).
func (k *sink) OnPing(p []byte) error {
	l := k.l
	l.s.sendControl(k.fd, k.c, wsproto.AppendFrame(l.wbuf[:0], true, wsproto.OpPong, p))
	return nil
}

// OnPong ignores pongs: the floor sends no pings.
func (k *sink) OnPong(p []byte) error { return nil }

// OnClose echoes the status code (RFC 6455 §5.5.1) and stops the feed.
func (k *sink) OnClose(code wsproto.StatusCode, reason []byte) error {
	l := k.l
	if code == wsproto.CloseNoStatus {
		code = 0 // an empty close answers an empty close
	}
	l.s.sendControl(k.fd, k.c, wsproto.AppendClose(l.wbuf[:0], code, ""))
	return errStop
}
