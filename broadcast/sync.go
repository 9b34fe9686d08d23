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
		if h.sender.Send(c, encodeGap(t, b.first, b.last, b.dropped)) == nil {
			h.st.gapNotices.Add(1)
		}
	}
	h.st.deliveries.Add(int64(sent))
	return sent
}

// StreamSeq returns the number of t's newest message on this node: the
// last seq a local stream gave or delivered (0 when t has no local
// members). Without a cluster it is the target's own count.
func (h *Hub) StreamSeq(t Target) uint64 {
	s := h.streamOf(t)
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// SendGap sends c a gap notice for target t: missed messages numbered
// first..last (missed 0: unknown).
func (h *Hub) SendGap(c ConnID, t Target, first, last, missed uint64) error {
	return h.sender.Send(c, encodeGap(t, first, last, missed))
}
