//go:build linux

package server

import (
	"encoding/binary"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// errStop ends a Feed after a close frame: RFC 6455 §5.5.1, after a Close
// frame the endpoint does not process further data.
var errStop = errors.New("server: stop feeding")

// readHandshake gathers the HTTP head. A head that arrives in one read
// (the usual case) is parsed straight from the loop buffer; only a head
// split across reads is copied into a pooled, fixed-size hsBuf.
func (l *loop) readHandshake(fd int32, sl *slot) {
	s := l.s
	max := s.cfg.MaxHeaderBytes
	// A head in progress continues in its hsBuf; a new one lands in the
	// loop buffer.
	into := l.buf
	if sl.hs != nil {
		into = sl.hs.b[len(sl.hs.b):cap(sl.hs.b)]
	}
	n, err := readFD(int(fd), into)
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		s.m.hsFailures[hsClosed].Inc()
		l.finalClose(fd, sl)
		return
	}
	s.m.bytesIn.Add(n)
	data := l.buf[:n]
	if sl.hs != nil {
		sl.hs.b = sl.hs.b[:len(sl.hs.b)+n]
		data = sl.hs.b
	}
	end := wsproto.RequestEnd(data)
	if end < 0 || end > max {
		if end > max || len(data) >= max {
			// RFC 6585 §5: 431 Request Header Fields Too Large.
			l.reject(fd, sl, 431, "request header fields too large", hsTooLarge)
			return
		}
		if sl.hs == nil {
			sl.hs = s.hsPool.get()
			sl.hs.b = append(sl.hs.b, data...)
		}
		return
	}
	if sl.lflags&lflagReject != 0 {
		if s.draining.Load() {
			l.reject(fd, sl, 503, "server is draining; reconnect to another node", hsDraining)
		} else {
			l.reject(fd, sl, 503, "server at capacity; retry later", hsCapacity)
		}
		return
	}
	l.resetHandshakeScratch()
	resp, hs, err := l.up.Upgrade(data[:end], l.wbuf[:0])
	if err != nil {
		s.m.hsFailures[hsBadRequest].Inc()
		l.sendAndLinger(fd, sl, resp)
		return
	}
	var ok bool
	// The identity lives in the loop, not on the stack: passing a stack
	// value's address to the Handler interface would move it to the heap
	// on every upgrade.
	l.ident, ok = l.authenticate(&hs)
	if !ok {
		l.reject(fd, sl, 401, "unauthorized: a valid token is required", hsUnauthorized)
		return
	}
	if n, werr := writeFull(int(fd), resp); n != len(resp) {
		// A fresh socket's send buffer always takes ~200 bytes; anything
		// else means the peer is gone.
		_ = werr
		s.m.hsFailures[hsClosed].Inc()
		l.finalClose(fd, sl)
		return
	}
	s.m.bytesOut.Add(len(resp))
	sl.mu.Lock()
	sl.state = stOpen
	sl.mu.Unlock()
	s.open.Add(1)
	s.m.opened.Inc()
	// The first heartbeat lands at a random point of the interval, so that
	// a million connections opened in a burst are pinged evenly spread,
	// never all in one tick.
	l.wheel.schedule(s.table, fd, 1+uint32(l.random()%uint64(l.pingTicks())))
	s.cfg.Handler.OnOpen(Conn{s: s, fd: fd, gen: sl.gen}, &l.ident)
	l.ident = Identity{}
	rest := data[end:]
	if len(rest) > 0 && sl.state == stOpen {
		// Frames sent right behind the head (pipelined). rest may live
		// in the hsBuf; Feed copies what it keeps, so release it after.
		l.feed(fd, sl, rest)
	}
	if sl.hs != nil {
		s.hsPool.put(sl.hs)
		sl.hs = nil
	}
}

func (l *loop) pingTicks() uint32 { return l.ticks(l.s.cfg.PingInterval) }

// reject answers the handshake with an HTTP error and lingers.
func (l *loop) reject(fd int32, sl *slot, status int, reason, metric string) {
	l.s.m.hsFailures[metric].Inc()
	l.sendAndLinger(fd, sl, wsproto.AppendHTTPError(l.wbuf[:0], status, reason))
}

// sendAndLinger writes an HTTP response to a connection still in the
// handshake, half-closes it and waits for the client's FIN.
func (l *loop) sendAndLinger(fd int32, sl *slot, resp []byte) {
	_, _ = writeFull(int(fd), resp)
	if sl.hs != nil {
		l.s.hsPool.put(sl.hs)
		sl.hs = nil
	}
	_ = unix.Shutdown(int(fd), unix.SHUT_WR)
	sl.mu.Lock()
	sl.state = stClosing
	sl.mu.Unlock()
	l.wheel.schedule(l.s.table, fd, l.ticks(l.s.cfg.CloseLinger))
}

// readFrames reads and parses an open connection's input.
func (l *loop) readFrames(fd int32, sl *slot) {
	for i := 0; i < maxReadsPerWake; i++ {
		n, err := readFD(int(fd), l.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.abort(fd, sl, reasonPeerGone)
			return
		}
		sl.seen = l.now
		l.s.m.bytesIn.Add(n)
		l.feed(fd, sl, l.buf[:n])
		if sl.state != stOpen || n < len(l.buf) {
			return
		}
	}
}

// readDiscard reads and drops input of a closing connection until EOF.
func (l *loop) readDiscard(fd int32, sl *slot) {
	for i := 0; i < maxReadsPerWake; i++ {
		n, err := readFD(int(fd), l.buf)
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.finalClose(fd, sl)
			return
		}
	}
}

// feed runs the frame parser over data. A connection with no partial state
// uses the loop's scratch Reader; only when a frame or message is left
// unfinished does it take a pooled Reader of its own, returned as soon as
// it is idle again.
func (l *loop) feed(fd int32, sl *slot, data []byte) {
	s := l.s
	r := sl.rd
	if r == nil {
		r = &l.rd
	}
	l.sink.fd, l.sink.gen, l.sink.sl = fd, sl.gen, sl
	err := r.Feed(data, &s.rcfg, &l.sink)
	l.sink.sl = nil
	switch {
	case err != nil || sl.state != stOpen:
		r.Reset()
		if r != &l.rd {
			s.readers.Put(r)
			sl.rd = nil
		}
	case r == &l.rd && !r.Idle():
		pr := s.readers.Get().(*wsproto.Reader)
		*pr = l.rd
		l.rd = wsproto.Reader{}
		sl.rd = pr
	case r != &l.rd && r.Idle():
		r.Reset()
		s.readers.Put(r)
		sl.rd = nil
	}
	if err == nil || err == errStop {
		return
	}
	var ce *wsproto.CloseError
	switch {
	case errors.As(err, &ce):
		l.closeWith(fd, sl, ce.Code, ce.Reason, reasonProtocol)
	case errors.Is(err, ErrSlowConsumer):
		l.closeWith(fd, sl, wsproto.CloseTryAgainLater, "slow consumer", reasonSlow)
	case errors.Is(err, ErrClosed):
		// The handler wrote to a socket that broke; the read side will
		// report it.
		l.abort(fd, sl, reasonWriteFailed)
	default:
		s.logEvery(&s.lastHandlerErr, "handler error; closing with 1011", "err", err)
		l.closeWith(fd, sl, wsproto.CloseInternalError, "internal error", reasonHandler)
	}
}

// loopSink receives parsed frames for the connection being fed.
type loopSink struct {
	l   *loop
	fd  int32
	gen uint32
	sl  *slot
}

func (k *loopSink) conn() Conn { return Conn{s: k.l.s, fd: k.fd, gen: k.gen} }

// OnMessage passes a complete message to the handler.
func (k *loopSink) OnMessage(op wsproto.OpCode, payload []byte) error {
	k.l.s.m.msgsIn.Inc()
	return k.l.s.cfg.Handler.OnMessage(k.conn(), op, payload)
}

// OnPing answers with a pong carrying the same payload (RFC 6455 §5.5.3).
func (k *loopSink) OnPing(payload []byte) error {
	err := k.conn().WriteMessage(wsproto.OpPong, payload)
	if err == ErrClosed {
		return nil
	}
	return err
}

// OnPong records the round trip of our heartbeat ping, whose payload is
// the send time in nanoseconds since the server started. Unsolicited pongs
// (RFC 6455 §5.5.3 allows them) carry anything else and are ignored.
func (k *loopSink) OnPong(payload []byte) error {
	if len(payload) != 8 {
		return nil
	}
	sent := time.Duration(binary.BigEndian.Uint64(payload))
	rtt := time.Since(k.l.s.started) - sent
	if rtt >= 0 && rtt < time.Hour {
		k.l.s.m.pingRTT.Update(rtt.Seconds())
	}
	return nil
}

// OnClose answers a close frame with the same code (RFC 6455 §5.5.1: "the
// endpoint typically echos the status code it received"), 1000 when it had
// none, and stops reading.
func (k *loopSink) OnClose(code wsproto.StatusCode, reason []byte) error {
	reply := code
	if reply == wsproto.CloseNoStatus {
		reply = wsproto.CloseNormal
	}
	k.l.closeWith(k.fd, k.sl, reply, "", reasonPeerClose)
	return errStop
}
