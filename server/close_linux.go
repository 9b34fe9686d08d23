//go:build linux

package server

import (
	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// closeWith starts the close handshake on an open connection: the close
// frame goes ahead of queued data (which is dropped, RFC 6455 §5.5.1), the
// write side is shut once it is out, and the fd lingers until the peer's
// FIN or CloseLinger. why is the c1m_connections_closed_total reason.
func (l *loop) closeWith(fd int32, sl *slot, code wsproto.StatusCode, reason, why string) {
	s := l.s
	if sl.state != stOpen {
		return
	}
	frame := wsproto.AppendClose(l.wbuf[:0], code, reason)
	sl.mu.Lock()
	sl.state = stClosing
	sl.flags |= flagCloseQueued
	if sl.out == nil {
		n, err := writeFull(int(fd), frame)
		if n > 0 {
			s.m.bytesOut.Add(n)
		}
		if n == len(frame) {
			_ = unix.Shutdown(int(fd), unix.SHUT_WR)
		} else if err == nil || err == unix.EAGAIN {
			s.queue(fd, sl, nil, frame, n, false, true)
			sl.flags |= flagShutWr
		}
	} else {
		before := sl.out.bytes
		sl.out.truncateAfterHead()
		s.queued.Add(int64(sl.out.bytes - before))
		s.queue(fd, sl, nil, frame, 0, false, true)
		sl.flags |= flagShutWr
	}
	sl.mu.Unlock()
	s.open.Add(-1)
	s.m.closed[why].Inc()
	l.wheel.schedule(s.table, fd, l.ticks(s.cfg.CloseLinger))
	s.cfg.Handler.OnClose(Conn{s: s, fd: fd, gen: sl.gen}, code)
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
