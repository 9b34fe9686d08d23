package broadcast

import "sync"

// chunkTask is one chunk of a fan-out, run on the pool. Tasks are pooled
// and passed to the pool as a pointer, so submitting one allocates
// nothing (a closure per chunk would).
type chunkTask struct {
	h      *Hub
	s      *stream
	d      delivery
	part   []ConnID // targets, or nil for a range of the fd table
	lo, hi int
}

var chunkTasks = sync.Pool{New: func() any { return new(chunkTask) }}

// run delivers the chunk and signals the fan-out it belongs to.
func (t *chunkTask) run() {
	s := t.s
	if t.part != nil {
		t.h.sendChunk(s, t.d, t.part)
	} else {
		s.fanCount.Add(int64(t.h.sendRange(s, t.d, t.lo, t.hi)))
	}
	*t = chunkTask{}
	chunkTasks.Put(t)
	s.fanWG.Done()
}

// runner is what the pool runs: a chunk or a stream's drain.
type runner interface{ run() }

func runTask(a any) { a.(runner).run() }

// submit runs t on the pool, or here when the pool is full (counted).
func (h *Hub) submit(t runner) {
	if err := h.pool.Invoke(t); err != nil {
		h.st.inlineChunks.Add(1)
		t.run()
	}
}

// fanout sends d to the stream's current targets and returns how many
// there were. Targets are split into chunks of Config.ChunkSize; all
// chunks but the last go to the pool (or run here when it is full), the
// last runs here, and fanout returns when every chunk is done, so the
// stream's next message cannot overtake this one on any connection.
func (h *Hub) fanout(s *stream, d delivery) int {
	if s.target.Kind == KindAll {
		return h.fanoutAll(s, d)
	}
	s.snap = h.snapshot(s, d, s.snap[:0])
	targets := s.snap
	chunk := h.cfg.ChunkSize
	for len(targets) > chunk {
		t := chunkTasks.Get().(*chunkTask)
		*t = chunkTask{h: h, s: s, d: d, part: targets[:chunk]}
		targets = targets[chunk:]
		s.fanWG.Add(1)
		h.submit(t)
	}
	h.sendChunk(s, d, targets)
	s.fanWG.Wait()
	n := len(s.snap)
	clear(s.snap)
	return n
}

// snapshot copies the stream's targets into buf, so that joins and leaves
// during the fan-out neither block on it nor shift members between
// chunks (a member moved by a swap-remove must not be skipped).
func (h *Hub) snapshot(s *stream, d delivery, buf []ConnID) []ConnID {
	switch s.target.Kind {
	case KindRoom:
		r := s.room
		r.mu.Lock()
		if d.presence {
			for c := range r.presence {
				buf = append(buf, c)
			}
		} else {
			buf = append(buf, r.members...)
		}
		r.mu.Unlock()
	case KindUser:
		u := s.user
		u.mu.Lock()
		buf = append(buf, u.devices...)
		u.mu.Unlock()
	}
	return buf
}

// fanoutAll sends d to every registered connection, walking the fd table
// in chunks of fds.
func (h *Hub) fanoutAll(s *stream, d delivery) int {
	chunk := h.cfg.ChunkSize
	s.fanCount.Store(0)
	lo := 0
	for ; lo+chunk < len(h.members); lo += chunk {
		t := chunkTasks.Get().(*chunkTask)
		*t = chunkTask{h: h, s: s, d: d, lo: lo, hi: lo + chunk}
		s.fanWG.Add(1)
		h.submit(t)
	}
	n := h.sendRange(s, d, lo, len(h.members))
	s.fanWG.Wait()
	return n + int(s.fanCount.Load())
}

// sendRange delivers d to the registered connections with fds in [lo, hi).
func (h *Hub) sendRange(s *stream, d delivery, lo, hi int) int {
	var sent, dropped, slow int64
	n := 0
	for fd := lo; fd < hi; fd++ {
		st := h.members[fd].state.Load()
		if st&1 == 0 {
			continue
		}
		n++
		h.deliver(s, d, ConnID{FD: int32(fd), Gen: uint32(st >> 1)}, &sent, &dropped, &slow)
	}
	h.addCounts(sent, dropped, slow)
	return n
}

// sendChunk delivers d to each target of part.
func (h *Hub) sendChunk(s *stream, d delivery, part []ConnID) {
	var sent, dropped, slow int64
	for _, c := range part {
		h.deliver(s, d, c, &sent, &dropped, &slow)
	}
	h.addCounts(sent, dropped, slow)
}

func (h *Hub) addCounts(sent, dropped, slow int64) {
	if sent > 0 {
		h.st.deliveries.Add(sent)
	}
	if dropped > 0 {
		h.st.dropped.Add(dropped)
	}
	if slow > 0 {
		h.st.slowClosed.Add(slow)
	}
}

// deliver is the per-target hot path: one atomic load, the gap check,
// one Send. It allocates nothing unless the target is slow.
func (h *Hub) deliver(s *stream, d delivery, c ConnID, sent, dropped, slow *int64) {
	m := h.lookup(c)
	if m == nil {
		return
	}
	if m.flags.has(flagSyncOn) && h.hold(m, s, d) {
		return // catching up: EndSync sends it
	}
	if m.flags.has(flagGapOn) && !h.flushGap(m, c, s) {
		// Still too slow for the notice: this message is missed too.
		h.recordGap(m, s, d.seq)
		*dropped++
		return
	}
	switch err := h.sender.Send(c, d.frame); err {
	case nil:
		*sent++
	case ErrSlow:
		if h.cfg.Policy == PolicyDrop {
			if d.seq != 0 {
				h.recordGap(m, s, d.seq)
			}
			*dropped++
			return
		}
		if m.flags.claim(flagSlow) {
			h.sender.CloseSlow(c)
			*slow++
		}
	}
}
