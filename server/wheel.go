package server

// wheel is one loop's coarse timing wheel: handshake deadlines, heartbeat
// pings, idle checks and close lingers all hang off it, one entry per
// connection, linked through the slots themselves (slot.next/prev), so a
// connection costs no timer and no allocation.
//
// Every delay is shorter than the wheel's span (len(heads) ticks), so an
// entry in bucket b is due exactly when the wheel reaches b; no round
// counter is needed. Not safe for concurrent use: only the owning loop
// touches it.
type wheel struct {
	heads []int32 // bucket → first fd, -1 when empty
	now   uint32  // last tick processed
}

func newWheel(span int) wheel {
	w := wheel{heads: make([]int32, span)}
	for i := range w.heads {
		w.heads[i] = -1
	}
	return w
}

// schedule (re)inserts fd to fire after delay ticks (clamped to 1..span-1).
func (w *wheel) schedule(t []slot, fd int32, delay uint32) {
	w.remove(t, fd)
	if delay < 1 {
		delay = 1
	}
	if max := uint32(len(w.heads) - 1); delay > max {
		delay = max
	}
	b := (w.now + delay) % uint32(len(w.heads))
	s := &t[fd]
	s.prev = -1
	s.next = w.heads[b]
	if s.next >= 0 {
		t[s.next].prev = fd
	}
	w.heads[b] = fd
	s.lflags |= lflagInWheel
}

// remove unlinks fd if it is in the wheel. The bucket is found from the
// head pointers: an entry with prev == -1 is a bucket head.
func (w *wheel) remove(t []slot, fd int32) {
	s := &t[fd]
	if s.lflags&lflagInWheel == 0 {
		return
	}
	if s.prev >= 0 {
		t[s.prev].next = s.next
	} else {
		for b, h := range w.heads {
			if h == fd {
				w.heads[b] = s.next
				break
			}
		}
	}
	if s.next >= 0 {
		t[s.next].prev = s.prev
	}
	s.next, s.prev = -1, -1
	s.lflags &^= lflagInWheel
}

// advance processes every bucket up to tick now, calling fire for each due
// fd after unlinking it. fire may schedule fd again (into a later bucket)
// but must not touch other entries.
func (w *wheel) advance(t []slot, now uint32, fire func(fd int32)) {
	for w.now != now {
		w.now++
		b := w.now % uint32(len(w.heads))
		for {
			fd := w.heads[b]
			if fd < 0 {
				break
			}
			s := &t[fd]
			w.heads[b] = s.next
			if s.next >= 0 {
				t[s.next].prev = -1
			}
			s.next, s.prev = -1, -1
			s.lflags &^= lflagInWheel
			fire(fd)
		}
	}
}
