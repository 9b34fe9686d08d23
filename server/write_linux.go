//go:build linux

package server

import (
	"golang.org/x/sys/unix"

	"c1m/poller"
	"c1m/wsproto"
)

// write sends the data frame a+b (header a, payload b) to connection
// (fd, gen) from any goroutine. With an empty queue it writes at once;
// what the socket does not take is queued (b by reference when stable,
// else copied) and EPOLLOUT is armed so that the owning loop flushes it.
// A frame that would take the queue's cost over Config.MaxPending makes
// the connection a slow consumer: it is closed with 1013 and
// ErrSlowConsumer returned.
func (s *Server) write(fd int32, gen uint32, a, b []byte, stable bool) error {
	err := s.writeNoClose(fd, gen, a, b, stable)
	if err == ErrSlowConsumer {
		s.requestClose(fd, gen, wsproto.CloseTryAgainLater, "slow consumer", reasonSlow)
	}
	return err
}

// writeNoClose is write without the slow-consumer close: the broadcast
// Hub applies its own policy (close or drop).
func (s *Server) writeNoClose(fd int32, gen uint32, a, b []byte, stable bool) error {
	sl, ok := s.lockOpen(fd, gen)
	if !ok {
		return ErrClosed
	}
	err := s.writeLocked(fd, sl, a, b, stable)
	sl.mu.Unlock()
	return err
}

// lockOpen locks the slot of (fd, gen) if that connection is open and may
// still be sent data (no close frame queued); the caller unlocks.
func (s *Server) lockOpen(fd int32, gen uint32) (*slot, bool) {
	if fd < 0 || int(fd) >= len(s.table) {
		return nil, false
	}
	sl := &s.table[fd]
	sl.mu.Lock()
	if sl.gen != gen || sl.state != stOpen || sl.flags&flagCloseQueued != 0 {
		sl.mu.Unlock()
		return nil, false
	}
	return sl, true
}

// writeLocked is write with sl.mu held and the state checked.
func (s *Server) writeLocked(fd int32, sl *slot, a, b []byte, stable bool) error {
	total := len(a) + len(b)
	if sl.out == nil {
		n, err := write2(int(fd), a, b)
		if n > 0 {
			s.m.bytesOut.Add(n)
		}
		if n == total {
			return nil
		}
		if err != nil && err != unix.EAGAIN {
			// The socket is broken (EPIPE, ECONNRESET); the loop sees the
			// same error on its next read and closes it.
			return ErrClosed
		}
		s.queue(fd, sl, a, b, n, stable)
		return nil
	}
	if sl.out.cost()+total+entryOverhead > s.cfg.MaxPending {
		return ErrSlowConsumer
	}
	s.queue(fd, sl, a, b, 0, stable)
	return nil
}

// writeControl sends a pong or a ping (payload ≤ 125 bytes) to (fd, gen)
// from any goroutine. With an empty queue it writes at once; otherwise the
// frame becomes the connection's pending pong or ping (outQueue.ctl),
// replacing one not yet started: a control frame never grows the queue
// by more than a frame of its kind, and never makes a slow consumer.
func (s *Server) writeControl(fd int32, gen uint32, op wsproto.OpCode, payload []byte) error {
	sl, ok := s.lockOpen(fd, gen)
	if !ok {
		return ErrClosed
	}
	defer sl.mu.Unlock()
	if sl.out == nil {
		var buf [2 + wsproto.MaxControlPayload]byte
		f := append(wsproto.AppendHeader(buf[:0], true, op, len(payload)), payload...)
		n, err := writeFull(int(fd), f)
		if n > 0 {
			s.m.bytesOut.Add(n)
		}
		if n == len(f) {
			return nil
		}
		if err != nil && err != unix.EAGAIN {
			return ErrClosed
		}
		s.queue(fd, sl, nil, f, n, false)
		return nil
	}
	before := sl.out.bytes
	if op == wsproto.OpPong {
		sl.out.setPong(payload)
	} else {
		sl.out.setPing(payload)
	}
	s.queued.Add(int64(sl.out.bytes - before))
	s.armWrite(fd, sl)
	return nil
}

// queue stores the data frame a+b, of which the first n bytes were already
// written, and arms EPOLLOUT. Only a write to an empty queue can be
// partial: the frame then becomes the head, with n bytes on the wire.
// Stable bytes (an immutable broadcast frame, passed whole in b) are
// referenced; the rest is copied into one private buffer.
func (s *Server) queue(fd int32, sl *slot, a, b []byte, n int, stable bool) {
	if sl.out == nil {
		sl.out = getOutQueue()
	}
	q := sl.out
	s.m.writeQueued.Inc()
	before := q.bytes
	frame := b
	if !stable || len(a) > 0 {
		frame = make([]byte, 0, len(a)+len(b))
		frame = append(append(frame, a...), b...)
	}
	q.push(frame)
	if n > 0 {
		q.off = n
		q.bytes -= n
	}
	s.queued.Add(int64(q.bytes - before))
	s.armWrite(fd, sl)
}

// events is what the loop polls fd for, from the slot's flags (sl.mu
// held): reading unless paused, writing while bytes are pending.
func events(sl *slot) poller.Events {
	var ev poller.Events
	if sl.flags&flagReadPaused == 0 {
		ev |= poller.EventRead
	}
	if sl.flags&flagWantWrite != 0 {
		ev |= poller.EventWrite
	}
	return ev
}

// armWrite asks for EPOLLOUT (sl.mu held) if it is not armed yet.
func (s *Server) armWrite(fd int32, sl *slot) {
	if sl.flags&flagWantWrite == 0 {
		sl.flags |= flagWantWrite
		_ = s.loops[sl.loop].p.Mod(int(fd), events(sl))
	}
}

// Reading pauses when the out queue's cost reaches pauseAt and resumes
// when flushing brings it under resumeAt: a client that sends and does not
// read what it is sent (its own echoes, acks, errors) is held back by its
// own TCP window instead of growing its queue toward MaxPending.
func (s *Server) pauseAt() int  { return s.cfg.MaxPending / 2 }
func (s *Server) resumeAt() int { return s.cfg.MaxPending / 4 }

// maybePause stops reading fd if its queue is over pauseAt; it reports
// whether reading is paused. Loop only.
func (l *loop) maybePause(fd int32, sl *slot) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.flags&flagReadPaused != 0 {
		return true
	}
	if sl.out == nil || sl.out.cost() < l.s.pauseAt() {
		return false
	}
	sl.flags |= flagReadPaused
	_ = l.p.Mod(int(fd), events(sl))
	l.s.m.readPauses.Inc()
	return true
}

// flush writes the queue with writev(2) on EPOLLOUT. It runs on the owning
// loop. When the queue empties, EPOLLOUT is disarmed, the queue returns to
// its pool, and a pending shutdown(SHUT_WR) (after a close frame) happens;
// when it falls under resumeAt, paused reading resumes.
func (l *loop) flush(fd int32, sl *slot) (broken bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	q := sl.out
	for q != nil && !q.empty() {
		l.segs = q.appendPending(l.segs[:0], len(l.iov))
		iov := l.iov[:0]
		for _, b := range l.segs {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
		clear(l.segs)
		if len(iov) == 0 {
			break
		}
		n, err := writev(int(fd), iov)
		if n > 0 {
			l.s.m.bytesOut.Add(n)
			q.advance(n)
			l.s.queued.Add(-int64(n))
		}
		if err == unix.EAGAIN {
			l.maybeResume(fd, sl)
			return false
		}
		if err != nil {
			return true
		}
	}
	if q != nil {
		putOutQueue(q)
		sl.out = nil
	}
	sl.flags &^= flagWantWrite | flagReadPaused // an empty queue resumes reading
	_ = l.p.Mod(int(fd), events(sl))
	if sl.flags&flagShutWr != 0 {
		sl.flags &^= flagShutWr
		_ = unix.Shutdown(int(fd), unix.SHUT_WR)
		// The close frame is out: now the peer has CloseLinger to answer.
		l.wheel.schedule(l.s.table, fd, l.ticks(l.s.cfg.CloseLinger))
	}
	return false
}

// maybeResume re-arms reading of a paused fd whose queue is small again
// (sl.mu held).
func (l *loop) maybeResume(fd int32, sl *slot) {
	if sl.flags&flagReadPaused == 0 {
		return
	}
	if sl.out != nil && sl.out.cost() >= l.s.resumeAt() {
		return
	}
	sl.flags &^= flagReadPaused
	_ = l.p.Mod(int(fd), events(sl))
}
