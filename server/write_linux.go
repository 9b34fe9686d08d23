//go:build linux

package server

import (
	"golang.org/x/sys/unix"

	"c1m/poller"
)

// write sends header a and payload b to connection (fd, gen) from any
// goroutine. With an empty queue it writes at once; what the socket does not
// take is queued (b by reference when stable, else copied) and EPOLLOUT is
// armed so that the owning loop flushes it. Data over Config.MaxPending, or
// anything over twice that (a ping flood's pongs), makes the connection a
// slow consumer: it is closed with 1013 and ErrSlowConsumer returned.
func (s *Server) write(fd int32, gen uint32, a, b []byte, stable, control bool) error {
	err := s.writeNoClose(fd, gen, a, b, stable, control)
	if err == ErrSlowConsumer {
		s.requestClose(fd, gen, 1013, "slow consumer", reasonSlow)
	}
	return err
}

// writeNoClose is write without the slow-consumer close: the broadcast
// Hub applies its own policy (close or drop).
func (s *Server) writeNoClose(fd int32, gen uint32, a, b []byte, stable, control bool) error {
	if int(fd) >= len(s.table) || fd < 0 {
		return ErrClosed
	}
	sl := &s.table[fd]
	sl.mu.Lock()
	if sl.gen != gen || sl.state != stOpen || sl.flags&flagCloseQueued != 0 {
		sl.mu.Unlock()
		return ErrClosed
	}
	err := s.writeLocked(fd, sl, a, b, stable, control)
	sl.mu.Unlock()
	return err
}

// writeLocked is write with sl.mu held and the state checked.
func (s *Server) writeLocked(fd int32, sl *slot, a, b []byte, stable, control bool) error {
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
		s.queue(fd, sl, a, b, n, stable, control)
		return nil
	}
	limit := s.cfg.MaxPending
	if control {
		limit *= 2
	}
	if sl.out.bytes+total > limit {
		return ErrSlowConsumer
	}
	s.queue(fd, sl, a, b, 0, stable, control)
	return nil
}

// queue stores the frame a+b, of which the first n bytes were already
// written, and arms EPOLLOUT. Every queued buffer is one whole frame, and
// a frame partly written stays whole with its progress in outQueue.off:
// that is how a later close or pong knows not to cut into it (RFC 6455
// §5.4: control frames go between frames, never inside one). Stable bytes
// (an immutable broadcast frame, passed whole in b) are referenced; the
// rest is copied into one private buffer.
func (s *Server) queue(fd int32, sl *slot, a, b []byte, n int, stable, control bool) {
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
	if n > 0 {
		// Only a write to an empty queue can be partial here: the frame
		// becomes the head, with n bytes already on the wire.
		q.push(frame, false)
		q.off = n
		q.bytes -= n
	} else {
		q.push(frame, control)
	}
	s.queued.Add(int64(q.bytes - before))
	if sl.flags&flagWantWrite == 0 {
		sl.flags |= flagWantWrite
		_ = s.loops[sl.loop].p.Mod(int(fd), poller.EventRead|poller.EventWrite)
	}
}

// flush writes the queue with writev(2) on EPOLLOUT. It runs on the owning
// loop. When the queue empties, EPOLLOUT is disarmed, the queue returns to
// its pool, and a pending shutdown(SHUT_WR) (after a close frame) happens.
func (l *loop) flush(fd int32, sl *slot) (broken bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	q := sl.out
	for q != nil && !q.empty() {
		iov := l.iov[:0]
		for i, b := range q.pending() {
			if i == len(l.iov) {
				break
			}
			if i == 0 {
				b = b[q.off:]
			}
			if len(b) == 0 {
				continue
			}
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
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
	if sl.flags&flagWantWrite != 0 {
		sl.flags &^= flagWantWrite
		_ = l.p.Mod(int(fd), poller.EventRead)
	}
	if sl.flags&flagShutWr != 0 {
		sl.flags &^= flagShutWr
		_ = unix.Shutdown(int(fd), unix.SHUT_WR)
	}
	return false
}
