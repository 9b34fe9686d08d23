package broadcast

import (
	"sort"
	"time"
)

// markPresence records that r has presence changes to send (r.mu held).
func (h *Hub) markPresence(r *room) {
	h.presMu.Lock()
	h.presDirty[r] = struct{}{}
	h.presMu.Unlock()
}

// presenceLoop sends, once per window, one presence event per room whose
// membership changed: users who joined and who left, net of flapping (a
// user who joined and left within the window appears in neither), and the
// member count. One goroutine serves every room; no timer per room.
func (h *Hub) presenceLoop() {
	defer h.stopped.Done()
	t := time.NewTicker(h.cfg.PresenceWindow)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.presMu.Lock()
		dirty := h.presDirty
		h.presDirty = map[*room]struct{}{}
		h.presMu.Unlock()
		for r := range dirty {
			h.flushPresence(r)
		}
	}
}

func (h *Hub) flushPresence(r *room) {
	r.mu.Lock()
	var joined, left []string
	for u, n := range r.pending {
		switch {
		case n > 0:
			joined = append(joined, u)
		case n < 0:
			left = append(left, u)
		}
	}
	clear(r.pending)
	count := len(r.members)
	subs := len(r.presence)
	r.mu.Unlock()
	if subs == 0 || len(joined)+len(left) == 0 {
		return
	}
	sort.Strings(joined)
	sort.Strings(left)
	s := &r.stream
	s.mu.Lock()
	start := h.enqueue(s, delivery{frame: encodePresence(r.name, count, joined, left), presence: true})
	s.mu.Unlock()
	if start {
		h.startDrain(s)
	}
}
