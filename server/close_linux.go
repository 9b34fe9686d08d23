//go:build linux

package server

import (
	"encoding/binary"
	"time"

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
	l.owned--
	s.live.Add(-1)
}

// fire runs when a connection's wheel entry is due.
func (l *loop) fire(fd int32) {
	s := l.s
	sl := &s.table[fd]
	switch sl.state {
	case stHandshake:
		// The handshake deadline passed (a slowloris or a silent socket).
		s.m.hsFailures[hsTimeout].Inc()
		l.sendAndLinger(fd, sl, wsproto.AppendHTTPError(l.wbuf[:0], 408, "handshake timeout"))
	case stOpen:
		pt := l.pingTicks()
		if l.now-sl.seen >= 2*pt {
			l.closeWith(fd, sl, wsproto.CloseGoingAway, "idle timeout", reasonIdle)
			return
		}
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(time.Since(s.started)))
		err := Conn{s: s, fd: fd, gen: sl.gen}.WriteMessage(wsproto.OpPing, p[:])
		if err == ErrSlowConsumer {
			l.closeWith(fd, sl, wsproto.CloseTryAgainLater, "slow consumer", reasonSlow)
			return
		}
		l.wheel.schedule(s.table, fd, pt)
	case stClosing:
		// The peer did not finish the close handshake in time.
		l.finalClose(fd, sl)
	}
}

// drainStep sends close frames (1001 with a reconnect hint) to this loop's
// connections at its share of Config.DrainRate per second, so that clients
// reconnect to other nodes spread over time rather than in one stampede.
func (l *loop) drainStep() {
	s := l.s
	if !l.drainOn {
		l.drainOn = true
		l.stopListening()
		l.drainCursor = 0
		l.drainBudget = 0
		// Each loop drains its share of the rate in proportion to the
		// sockets it owns, so that uneven loops still add up to
		// Config.DrainRate overall.
		l.drainShare = 1 / float64(len(s.loops))
		if live := s.live.Load(); live > 0 {
			l.drainShare = float64(l.owned) / float64(live)
		}
	}
	perTick := float64(s.cfg.DrainRate) * l.tick.Seconds() * l.drainShare
	l.drainBudget += perTick
	if l.drainBudget > 2*perTick+1 {
		l.drainBudget = 2*perTick + 1
	}
	for l.drainCursor < len(s.table) && l.drainBudget >= 1 {
		fd := int32(l.drainCursor)
		l.drainCursor++
		sl := &s.table[fd]
		if !l.owns(sl) {
			continue
		}
		switch sl.state {
		case stOpen:
			l.drainBudget--
			l.closeWith(fd, sl, wsproto.CloseGoingAway, DrainReason, reasonDrain)
		case stHandshake:
			l.reject(fd, sl, 503, "server is draining; reconnect to another node", hsDraining)
		}
	}
	// No new sockets arrive while draining (the listeners are shut), so a
	// loop that owns none is done, wherever its cursor is.
	if l.owned == 0 {
		s.loopDrained(l.id)
	}
}

// DrainReason is the close reason sent with 1001 while draining: it tells
// clients to reconnect, to another node, after a short random back-off.
const DrainReason = "server draining; reconnect with jittered backoff"

// forceCloseAll closes every socket the loop still owns (drain timeout).
func (l *loop) forceCloseAll() {
	s := l.s
	for fd := range s.table {
		sl := &s.table[fd]
		if !l.owns(sl) {
			continue
		}
		if sl.state == stOpen {
			s.m.closed[reasonForced].Inc()
		}
		l.finalClose(int32(fd), sl)
	}
}

// owns reports whether sl is a live socket of this loop. Another loop may
// be writing the slot of a socket it accepts, so the check takes mu.
func (l *loop) owns(sl *slot) bool {
	sl.mu.Lock()
	ok := sl.state != stFree && int(sl.loop) == l.id
	sl.mu.Unlock()
	return ok
}
