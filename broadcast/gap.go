package broadcast

// gap is a run of sequence numbers a connection missed on one stream
// under PolicyDrop. Misses on a stream are contiguous: every delivery that
// gets through first sends the pending notice, and a notice that does not
// get through makes that delivery a miss too.
type gap struct {
	first, last, missed uint64
}

// recordGap notes that m missed seq on s.
func (h *Hub) recordGap(m *member, s *stream, seq uint64) {
	if seq == 0 {
		return // presence events carry no sequence number
	}
	m.mu.Lock()
	if m.gaps == nil {
		m.gaps = map[*stream]*gap{}
	}
	if g := m.gaps[s]; g != nil {
		g.last = seq
		g.missed++
	} else {
		m.gaps[s] = &gap{first: seq, last: seq, missed: 1}
	}
	m.flags.set(flagGapOn, true)
	m.mu.Unlock()
}

// flushGap sends m the pending gap notice for s, if any, and reports
// whether the connection can take the next message (false: still slow).
// Notices for other streams wait for a delivery on their own stream, so
// each arrives right before the next message it concerns.
func (h *Hub) flushGap(m *member, c ConnID, s *stream) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.gaps[s]
	if g == nil {
		return true
	}
	if h.sendGap(c, s.target, g.first, g.last, g.missed) != nil {
		return false
	}
	delete(m.gaps, s)
	if len(m.gaps) == 0 {
		m.flags.set(flagGapOn, false)
	}
	return true
}
