//go:build linux

package server

import (
	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// closeWith starts the close handshake on an open connection. A graceful
// close (1000, 1001 and the application codes 3000-4999) is queued behind
// the data already queued, so a client that keeps reading gets everything
// it was sent before the close frame; an error close (a protocol error, a
// policy violation, a slow consumer, a server error) drops the queued data
// first (RFC 6455 §5.5.1: no data after a Close frame), counted in
// c1m_frames_discarded_total. The write side is shut once the close frame
// is out, and the fd lingers until the peer's FIN or CloseLinger. why is
// the c1m_connections_closed_total reason.
func (l *loop) closeWith(fd int32, sl *slot, code wsproto.StatusCode, reason, why string) {
	s := l.s
	if sl.state != stOpen {
		return
	}
	frame := wsproto.AppendClose(l.wbuf[:0], code, reason)
	linger := s.cfg.CloseLinger
	sl.mu.Lock()
	sl.state = stClosing
	sl.flags |= flagCloseQueued
	if sl.flags&flagReadPaused != 0 {
		// A closing connection's input is read and dropped (readDiscard):
		// left unread, it would turn the final close(2) into a reset
		// that destroys the close frame in flight.
		sl.flags &^= flagReadPaused
		_ = l.p.Mod(int(fd), events(sl))
	}
	if sl.out == nil {
		n, err := writeFull(int(fd), frame)
		if n > 0 {
			s.m.bytesOut.Add(n)
		}
		if n == len(frame) {
			_ = unix.Shutdown(int(fd), unix.SHUT_WR)
		} else if err == nil || err == unix.EAGAIN {
			s.queue(fd, sl, nil, frame, n, false)
			sl.flags |= flagShutWr
		}
	} else {
		if !gracefulClose(code) {
			before := sl.out.bytes
			s.m.discarded.Add(sl.out.truncate())
			s.queued.Add(int64(sl.out.bytes - before))
		} else {
			// The close waits behind the queue: give the client a ping
			// interval to read it; the linger starts once it is out.
			linger = max(linger, s.cfg.PingInterval)
		}
		s.queue(fd, sl, nil, frame, 0, false)
		sl.flags |= flagShutWr
	}
	sl.mu.Unlock()
	s.open.Add(-1)
	s.m.closed[why].Inc()
	l.wheel.schedule(s.table, fd, l.ticks(linger))
	s.cfg.Handler.OnClose(Conn{s: s, fd: fd, gen: sl.gen}, code)
}

// gracefulClose reports whether a close with code waits behind queued
// data (normal closure, going away, and the application's own codes) or
// cuts it (every error code of RFC 6455 §7.4.1).
func gracefulClose(code wsproto.StatusCode) bool {
	return code == wsproto.CloseNormal || code == wsproto.CloseGoingAway || code >= 3000 && code <= 4999
}

// abort closes a connection whose peer vanished (EOF or error without a
// close frame): no close frame can be delivered, so the fd goes at once.
func (l *loop) abort(fd int32, sl *slot, why string) {
	s := l.s
	if sl.state == stOpen {
		sl.mu.Lock()
		sl.state = stClosing
		sl.mu.Unlock()
		s.open.Add(-1)
		s.m.closed[why].Inc()
		s.cfg.Handler.OnClose(Conn{s: s, fd: fd, gen: sl.gen}, wsproto.CloseAbnormal)
	}
	l.finalClose(fd, sl)
}

// finalClose frees the slot and closes the fd. It bumps the generation
// under mu before close(2), so no writer holding an old Conn can reach a
// socket that later reuses the fd number.
func (l *loop) finalClose(fd int32, sl *slot) {
	s := l.s
	if sl.state == stFree {
		return
	}
	if sl.state == stOpen {
		// Closed without a handshake (forced at the end of a drain).
		s.open.Add(-1)
		s.cfg.Handler.OnClose(Conn{s: s, fd: fd, gen: sl.gen}, wsproto.CloseAbnormal)
	}
	l.wheel.remove(s.table, fd)
	if sl.hs != nil {
		s.hsPool.put(sl.hs)
		sl.hs = nil
	}
	if sl.rd != nil {
		sl.rd.Reset()
		s.readers.Put(sl.rd)
		sl.rd = nil
	}
	sl.mu.Lock()
	sl.gen++
	sl.state = stFree
	sl.flags = 0
	if sl.out != nil {
		s.m.discarded.Add(sl.out.frames())
		s.queued.Add(-int64(sl.out.bytes))
		putOutQueue(sl.out)
		sl.out = nil
	}
	_ = unix.Close(int(fd))
	sl.mu.Unlock()
	sl.lflags = 0
	sl.tag = 0
	l.owned--
	s.live.Add(-1)
}

// owns reports whether sl is a live socket of this loop. Another loop may
// be writing the slot of a socket it accepts, so the check takes mu.
func (l *loop) owns(sl *slot) bool {
	sl.mu.Lock()
	ok := sl.state != stFree && int(sl.loop) == l.id
	sl.mu.Unlock()
	return ok
}
