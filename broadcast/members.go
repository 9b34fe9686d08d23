package broadcast

// membersChanged reports a target's local member count, before and
// after a change, to Config.OnMembers (the target's lock held).
func (h *Hub) membersChanged(t Target, before, after int) {
	if f := h.cfg.OnMembers; f != nil {
		f(t, before, after)
	}
}

// LocalMembers returns how many of a room's or user's members (devices)
// are on this node; 0 when it has none here.
func (h *Hub) LocalMembers(t Target) int {
	switch t.Kind {
	case KindRoom:
		h.mu.RLock()
		r := h.rooms[t.Name]
		h.mu.RUnlock()
		if r == nil {
			return 0
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.members)
	case KindUser:
		h.mu.RLock()
		u := h.users[t.Name]
		h.mu.RUnlock()
		if u == nil {
			return 0
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.devices)
	}
	return 0
}
