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
	rj, rl := r.remoteJoined, r.remoteLeft
	r.remoteJoined, r.remoteLeft = nil, nil
	count := len(r.members)
	subs := len(r.presence)
	r.mu.Unlock()
	sort.Strings(joined)
	sort.Strings(left)
	if f := h.cfg.OnPresence; f != nil && len(joined)+len(left) > 0 {
		f(r.name, joined, left)
	}
	joined, left = append(joined, rj...), append(left, rl...)
	if subs == 0 || len(joined)+len(left) == 0 {
		return
	}
	if f := h.cfg.RoomCount; f != nil {
		count = max(f(r.name), count)
	}
	s := &r.stream
	s.mu.Lock()
	start := h.enqueue(s, delivery{frame: encodePresence(r.name, count, joined, left), presence: true})
	s.mu.Unlock()
	if start {
		h.startDrain(s)
	}
}

// tracksPresence reports whether r's joins and leaves are gathered: when
// a local member asked for presence events, or when the changes go to
// other nodes (Config.OnPresence). r.mu held.
func (h *Hub) tracksPresence(r *room) bool {
	return len(r.presence) > 0 || h.cfg.OnPresence != nil
}

// maxRemotePresence caps the other nodes' names one room gathers per
// window.
const maxRemotePresence = 1000

// MergePresence adds other nodes' presence changes of a room to its next
// presence event on this node (sent to the local members that asked for
// presence). A room without such members here ignores them.
func (h *Hub) MergePresence(room string, joined, left []string) {
	h.mu.RLock()
	r := h.rooms[room]
	h.mu.RUnlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.presence) == 0 {
		return
	}
	if n := maxRemotePresence - len(r.remoteJoined); n > 0 {
		r.remoteJoined = append(r.remoteJoined, joined[:min(n, len(joined))]...)
	}
	if n := maxRemotePresence - len(r.remoteLeft); n > 0 {
		r.remoteLeft = append(r.remoteLeft, left[:min(n, len(left))]...)
	}
	h.markPresence(r)
}
