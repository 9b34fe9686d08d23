//go:build linux

package raw

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"c1m/broadcast"
	"c1m/poller"
)

// encode frames message seq exactly as c1m frames a message to everyone,
// so that the benchmark's clients parse and time every server alike.
func encode(seq uint64, data []byte) []byte {
	return broadcast.EncodeMessage(broadcast.ToAll(), "api", seq, time.Now().UnixMilli(), data)
}

// fanout writes each published frame to every open socket from
// Config.Writers goroutines, one message at a time in publish order.
// The writers take chunks of ChunkSize fds from a shared counter, so they
// finish together whatever the spread of open fds. The frame is shared
// and immutable: nothing is copied per socket.
type fanout struct {
	s     *Server
	queue chan []byte     // published frames; closed by Shutdown
	wake  []chan struct{} // one per writer; closed when the fan-out stops
	done  chan struct{}   // closed when the dispatcher and writers are gone

	// Set by the dispatcher before it wakes the writers (the channel send
	// orders them), read by the writers.
	frame []byte
	hi    int
	next  atomic.Int64 // next chunk index
	wg    sync.WaitGroup
}

func newFanout(s *Server) *fanout {
	f := &fanout{s: s, queue: make(chan []byte, publishQueue), done: make(chan struct{})}
	var writers sync.WaitGroup
	for i := 0; i < s.cfg.Writers; i++ {
		w := make(chan struct{}, 1)
		f.wake = append(f.wake, w)
		writers.Add(1)
		go func() {
			defer writers.Done()
			f.writer(w)
		}()
	}
	go func() {
		f.dispatch()
		writers.Wait()
		close(f.done)
	}()
	return f
}

// dispatch runs one broadcast at a time until the queue is closed.
func (f *fanout) dispatch() {
	for frame := range f.queue {
		start := time.Now()
		f.frame, f.hi = frame, int(f.s.maxFD.Load())
		f.next.Store(0)
		f.wg.Add(len(f.wake))
		for _, w := range f.wake {
			w <- struct{}{}
		}
		f.wg.Wait()
		f.frame = nil
		f.s.m.broadcastSeconds.UpdateDuration(start)
	}
	for _, w := range f.wake {
		close(w)
	}
}

// writer writes the current frame to the chunks it takes, per wake-up.
func (f *fanout) writer(wake <-chan struct{}) {
	s := f.s
	chunk := s.cfg.ChunkSize
	for range wake {
		frame, hi := f.frame, f.hi
		var sent int
		for {
			lo := int(f.next.Add(1)-1) * chunk
			if lo >= hi {
				break
			}
			for fd := lo; fd < min(lo+chunk, hi); fd++ {
				c := &s.table[fd]
				c.mu.Lock()
				if c.state == stOpen && s.sendLocked(fd, c, frame, true) {
					sent++
				}
				c.mu.Unlock()
			}
		}
		s.m.deliveries.Add(sent)
		f.wg.Done()
	}
}

// outQueue holds what a full socket has not taken yet: whole frames in
// order, the first of which is written up to off.
type outQueue struct {
	bufs  [][]byte
	off   int
	bytes int
}

// sendLocked writes b to the open socket fd (c.mu held). With nothing
// queued it writes at once; what the socket does not take is queued
// (referenced when stable, i.e. immutable, else copied) and EPOLLOUT is
// armed so that the owning loop flushes it. Over MaxPending queued bytes
// the connection is a slow consumer, and a broken socket is given up: both
// are marked closing for the loop to close. It reports whether b was
// written or queued.
func (s *Server) sendLocked(fd int, c *conn, b []byte, stable bool) bool {
	if c.out == nil {
		n, err := s.send(fd, b)
		if n == len(b) {
			return true
		}
		if err != nil && err != unix.EAGAIN {
			s.giveUp(fd, c, reasonWriteFailed)
			return false
		}
		c.out = &outQueue{}
		s.m.writesQueued.Inc()
		if err := s.loops[c.loop].p.Mod(fd, poller.EventRead|poller.EventWrite); err != nil {
			s.giveUp(fd, c, reasonWriteFailed)
			return false
		}
		c.out.push(b[n:], stable)
		return true
	}
	if c.out.bytes+len(b) > s.cfg.MaxPending {
		s.giveUp(fd, c, reasonSlow)
		return false
	}
	c.out.push(b, stable)
	return true
}

func (q *outQueue) push(b []byte, stable bool) {
	if !stable {
		b = append([]byte(nil), b...)
	}
	q.bufs = append(q.bufs, b)
	q.bytes += len(b)
}

// sendControl writes a control frame (pong, close) built in a loop's
// scratch buffer, behind anything queued.
func (s *Server) sendControl(fd int, c *conn, b []byte) {
	c.mu.Lock()
	if c.state == stOpen {
		s.sendLocked(fd, c, b, false)
	}
	c.mu.Unlock()
}

// giveUp marks an open connection closing (c.mu held) and shuts its
// socket down, which wakes the owning loop (EPOLLHUP) to close it: only
// the loop closes fds, so a number is never reused under its feet.
func (s *Server) giveUp(fd int, c *conn, why string) {
	c.state = stClosing
	c.out = nil
	_ = unix.Shutdown(fd, unix.SHUT_RDWR)
	s.m.closed(why)
}

// flush writes a socket's queue on EPOLLOUT and disarms it when empty.
func (s *Server) flush(fd int, c *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.out
	if c.state != stOpen || q == nil {
		return
	}
	for len(q.bufs) > 0 {
		b := q.bufs[0][q.off:]
		n, err := s.send(fd, b)
		if n > 0 {
			q.bytes -= n
		}
		if n == len(b) {
			q.bufs[0] = nil
			q.bufs = q.bufs[1:]
			q.off = 0
			continue
		}
		if err != nil && err != unix.EAGAIN {
			s.giveUp(fd, c, reasonWriteFailed)
			return
		}
		q.off += n
		return
	}
	c.out = nil
	if err := s.loops[c.loop].p.Mod(fd, poller.EventRead); err != nil {
		s.giveUp(fd, c, reasonWriteFailed)
	}
}

// sendNoSignal is one send(2) with MSG_DONTWAIT|MSG_NOSIGNAL, retrying
// EINTR: the cheapest way into the socket (no vfs_write, no fdget_pos),
// which is what a floor is for. Short writes are the caller's.
func sendNoSignal(fd int, b []byte) (int, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// writeFD is one write(2), retrying EINTR (what c1m writes with today).
func writeFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// readFD is one read(2), retrying EINTR.
func readFD(fd int, b []byte) (int, error) {
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}
