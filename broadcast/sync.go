package broadcast

// A catch-up: a client that joins a room saying the last message it saw
// must get what it missed (from the history, fetched by the caller) and
// then the live stream, with no duplicate and no hole. JoinFrom joins and
// holds the connection's live messages of that room back in a small buffer
// while the caller writes the history; EndSync then sends the held
// messages newer than the last one of the history and lets the room's
// stream reach the connection directly again. Nothing of this exists for
// a connection that is not catching up.

// syncBuf is what one connection holds back on one stream during a
// catch-up (under the member's mu).
type syncBuf struct {
	frames [][]byte
	seqs   []uint64
	// dropped counts live messages past Config.MaxSyncFrames, numbered
	// first..last; they are announced by a gap notice.
	first, last, dropped uint64
}

// JoinFrom is Join for a connection catching up: from its return until
// EndSync, the room's live messages to c are held back rather than sent.
// A connection already in the room starts a catch-up on its membership
// (to recover from a gap notice). It returns Join's count and error; on
// error nothing is held back.
func (h *Hub) JoinFrom(c ConnID, name string, presence bool) (int, error) {
	return h.join(c, name, presence, true)
}

// syncOn begins holding back s's messages to m (m.mu held).
func (h *Hub) syncOn(m *member, s *stream) {
	if m.sync == nil {
		m.sync = map[*stream]*syncBuf{}
	}
	m.sync[s] = &syncBuf{}
	m.flags.set(flagSyncOn, true)
}

// hold keeps d for m if m is catching up on s; it reports whether it did.
func (h *Hub) hold(m *member, s *stream, d delivery) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.sync[s]
	if b == nil {
		return false
	}
	if len(b.frames) >= h.cfg.MaxSyncFrames {
		if d.seq != 0 {
			if b.dropped == 0 {
				b.first = d.seq
			}
			b.last = d.seq
			b.dropped++
		}
		return true
	}
	b.frames = append(b.frames, d.frame)
	b.seqs = append(b.seqs, d.seq)
	return true
}

// EndSync ends c's catch-up on room t: the held-back messages numbered
// after through (the last the caller sent from the history; 0 sends them
// all) go out in order, then a gap notice for those past the buffer, and
// the room's stream reaches c directly again. It returns how many held
// messages it sent. A connection that closed or left meanwhile is no
// error: there is nothing to send.
func (h *Hub) EndSync(c ConnID, t Target, through uint64) int {
	m := h.lookup(c)
	s := h.streamOf(t)
	if m == nil || s == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.sync[s]
	if b == nil {
		return 0
	}
	return h.flushSync(c, m, s, b, through)
}

// syncEnd is a catch-up's end waiting in a stream's queue (EndSyncLive):
// it ends the catch-up buf only, so an end that comes late (the
// connection left and joined again, or closed and its fd went to a new
// one) ends nothing.
type syncEnd struct {
	c     ConnID
	buf   *syncBuf
	since uint64
}

// EndSyncLive ends c's catch-up on room t when there is no history to
// replay: c said it had seen the messages up to since. The end is queued
// on t's stream behind every message numbered before it, so that when it
// runs each of those was either held back for c (and is sent) or went out
// before c joined (and is missed): c gets one gap notice for the missed
// numbers after since, then the held messages, then the live stream, with
// no message both announced missed and delivered. A stream whose numbers
// are below since started again (the room was emptied and re-created):
// its messages before the held ones are announced missed from 1.
//
// It does not wait for the messages queued before the end: the stream's
// drain runs it (here, like a publish, when the pool is full). Queueing
// it is never refused: ends do not count against MaxStreamBacklog (a join
// queues one at most) and pass a drain in progress. A hub already closed
// only lets the held messages after since go out, with no gap notice.
func (h *Hub) EndSyncLive(c ConnID, t Target, since uint64) {
	s := h.streamOf(t)
	m := h.lookup(c)
	if s == nil || m == nil {
		return // the room or the connection is gone: nothing to end
	}
	if h.closed.Load() {
		h.EndSync(c, t, since)
		return
	}
	m.mu.Lock()
	buf := m.sync[s]
	m.mu.Unlock()
	if buf == nil {
		return
	}
	s.mu.Lock()
	s.ends++
	start := h.enqueue(s, delivery{end: &syncEnd{c: c, buf: buf, since: since}})
	s.mu.Unlock()
	if start {
		h.startDrain(s)
	}
}

// endSyncLive runs a queued catch-up end (on s's drain task: every message
// queued before it has been fanned out, none after it has begun).
func (h *Hub) endSyncLive(s *stream, e *syncEnd) {
	m := h.lookup(e.c)
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.sync[s]
	if b == nil || b != e.buf {
		return // ended already, or a later catch-up's
	}
	// top is the newest number c will not get: the one before the first
	// held message, or the newest fanned out when none is held.
	top := s.fanned
	if first, ok := b.firstSeq(); ok && first-1 < top {
		top = first - 1
	}
	through := e.since
	switch {
	case e.since > s.fanned && s.fanned > 0:
		// Re-created: everything of this room before the held ones.
		through = top
		if top > 0 {
			_ = h.sendGap(e.c, s.target, 1, top, top)
		}
	case e.since < top:
		through = top
		_ = h.sendGap(e.c, s.target, e.since+1, top, top-e.since)
	}
	h.flushSync(e.c, m, s, b, through)
}

// sendGap sends c a gap notice for t's messages first..last (missed of
// them) and counts it in Stats.GapNotices when it went out.
func (h *Hub) sendGap(c ConnID, t Target, first, last, missed uint64) error {
	err := h.sender.Send(c, encodeGap(t, first, last, missed))
	if err == nil {
		h.st.gapNotices.Add(1)
	}
	return err
}

// firstSeq returns the number of the first held message of b (the held
// ones of a stream are a contiguous tail of its numbers, in order), or of
// the first dropped past the buffer when none is kept.
func (b *syncBuf) firstSeq() (uint64, bool) {
	for _, seq := range b.seqs {
		if seq != 0 {
			return seq, true
		}
	}
	if b.dropped > 0 {
		return b.first, true
	}
	return 0, false
}

// flushSync ends m's catch-up on s (m.mu held): the held messages after
// through go out in order, then a gap notice for those past the buffer.
// It returns how many held messages it sent.
func (h *Hub) flushSync(c ConnID, m *member, s *stream, b *syncBuf, through uint64) int {
	delete(m.sync, s)
	if len(m.sync) == 0 {
		m.flags.set(flagSyncOn, false)
	}
	sent := 0
	for i, f := range b.frames {
		if seq := b.seqs[i]; seq != 0 && seq <= through {
			continue // the history had it
		}
		if err := h.sender.Send(c, f); err != nil {
			if err == ErrSlow && m.flags.claim(flagSlow) {
				h.sender.CloseSlow(c)
				h.st.slowClosed.Add(1)
			}
			return sent
		}
		sent++
	}
	if b.dropped > 0 {
		_ = h.sendGap(c, s.target, b.first, b.last, b.dropped)
	}
	h.st.deliveries.Add(int64(sent))
	return sent
}

// SendGap sends c a gap notice for target t: missed messages numbered
// first..last (missed 0: unknown).
func (h *Hub) SendGap(c ConnID, t Target, first, last, missed uint64) error {
	return h.sender.Send(c, encodeGap(t, first, last, missed))
}
