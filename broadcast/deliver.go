package broadcast

import "encoding/json"

// Deliver fans out a message numbered elsewhere (the cluster's one order):
// seq and prev as given ("prev" in the frame, so a reader can tell a hole
// in a numbering that is not contiguous), queued in t's stream behind what
// is there. It returns at once. A target with no local members gets
// nothing (no error); past Config.MaxStreamBacklog the message is dropped
// and ErrBacklog returned, and t's readers see the hole.
func (h *Hub) Deliver(t Target, from string, seq, prev uint64, tsMillis int64, data []byte) error {
	return h.push(t, delivery{seq: seq, frame: encodeMessage(t, from, seq, prev, tsMillis, data, false)}, data)
}

// PublishLocal fans out a message to t's members on this node only, with
// no sequence number ("local":true in the frame): what a node delivers
// while its cluster is unreachable, so that its own clients still talk.
// Such a message is in no history and reaches no other node.
func (h *Hub) PublishLocal(t Target, from string, data []byte) error {
	if h.draining.Load() {
		return ErrDraining
	}
	return h.push(t, delivery{frame: encodeMessage(t, from, 0, 0, nowMillis(), data, true), local: true}, data)
}

// push queues d, framed from data, on t's stream.
func (h *Hub) push(t Target, d delivery, data []byte) error {
	if h.closed.Load() {
		return ErrClosed
	}
	if !json.Valid(data) {
		return ErrBadData
	}
	s := h.streamOf(t)
	if s == nil {
		return nil
	}
	d.at = h.nanotime()
	s.mu.Lock()
	if len(s.queue)-s.head-s.ends >= h.cfg.MaxStreamBacklog {
		s.mu.Unlock()
		return ErrBacklog
	}
	if d.seq > s.seq {
		s.seq = d.seq
	}
	start := h.enqueue(s, d)
	s.mu.Unlock()
	h.st.published.Add(1)
	if start {
		h.startDrain(s)
	}
	return nil
}
