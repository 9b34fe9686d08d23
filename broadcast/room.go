package broadcast

import "sync"

// room is a named set of connections with its own stream.
type room struct {
	name string

	mu       sync.Mutex // guards the fields below
	members  []ConnID
	index    map[ConnID]int32 // position in members
	presence map[ConnID]bool  // members that asked for presence events
	pending  map[string]int   // presence: net joins per user in this window
	// remoteJoined and remoteLeft are other nodes' changes for this
	// window (MergePresence), at most maxRemotePresence names each.
	remoteJoined, remoteLeft []string
	gone                     bool // removed from the hub (empty)

	stream stream
}

// Join adds c to room (created on first join). With presence set, c
// receives the room's batched join/leave events. It returns the member
// count after the join. Joining a room twice is not an error.
func (h *Hub) Join(c ConnID, name string, presence bool) (int, error) {
	return h.join(c, name, presence, false)
}

func (h *Hub) join(c ConnID, name string, presence, sync bool) (int, error) {
	if !h.validName(name) {
		return 0, ErrBadName
	}
	m := h.lookup(c)
	if m == nil {
		return 0, ErrNotRegistered
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Load() != packState(c.Gen) {
		return 0, ErrNotRegistered
	}
	for _, r := range m.rooms {
		if r.name == name {
			r.mu.Lock()
			if presence {
				r.presence[c] = true
			}
			n := len(r.members)
			r.mu.Unlock()
			if sync {
				h.syncOn(m, &r.stream)
			}
			return n, nil
		}
	}
	if len(m.rooms) >= h.cfg.MaxRoomsPerConn {
		return 0, ErrTooManyRooms
	}
	for {
		h.mu.Lock()
		r := h.rooms[name]
		if r == nil {
			r = &room{name: name, index: map[ConnID]int32{}, presence: map[ConnID]bool{}, pending: map[string]int{}}
			r.stream.target = ToRoom(name)
			r.stream.room = r
			h.rooms[name] = r
		}
		h.mu.Unlock()
		r.mu.Lock()
		if r.gone {
			// Emptied and removed between the two locks; take the new one.
			r.mu.Unlock()
			continue
		}
		if h.cfg.MaxRoomMembers > 0 && len(r.members) >= h.cfg.MaxRoomMembers {
			r.mu.Unlock()
			h.st.refusedFull.Add(1)
			return 0, ErrRoomFull
		}
		if sync {
			// Before c is a member (and under m.mu, which the fan-out's
			// hold takes): no live message of r can reach c ahead of its
			// catch-up.
			h.syncOn(m, &r.stream)
		}
		r.index[c] = int32(len(r.members))
		r.members = append(r.members, c)
		if presence {
			r.presence[c] = true
		}
		n := len(r.members)
		h.membersChanged(r.stream.target, n-1, n)
		if m.user != nil && h.tracksPresence(r) {
			r.pending[m.user.name]++
			h.markPresence(r)
		}
		r.mu.Unlock()
		m.rooms = append(m.rooms, r)
		return n, nil
	}
}

// Leave removes c from room.
func (h *Hub) Leave(c ConnID, name string) error {
	m := h.lookup(c)
	if m == nil {
		return ErrNotRegistered
	}
	m.mu.Lock()
	var r *room
	for i, x := range m.rooms {
		if x.name == name {
			r = x
			m.rooms = append(m.rooms[:i], m.rooms[i+1:]...)
			break
		}
	}
	if r != nil && m.sync != nil {
		delete(m.sync, &r.stream)
		if len(m.sync) == 0 {
			m.syncOn.Store(false)
		}
	}
	if r != nil && m.gaps != nil {
		// A gap on a room left is owed to nobody: the member gets no more
		// of that stream, and the entry would pin the room for as long as
		// the connection lives.
		delete(m.gaps, &r.stream)
		if len(m.gaps) == 0 {
			m.gapOn.Store(false)
		}
	}
	u := m.user
	m.mu.Unlock()
	if r == nil {
		return ErrNotMember
	}
	h.removeFromRoom(r, c, u)
	return nil
}

// removeFromRoom takes c out of r and drops r from the hub when empty.
func (h *Hub) removeFromRoom(r *room, c ConnID, u *user) {
	r.mu.Lock()
	i, ok := r.index[c]
	if ok {
		last := int32(len(r.members) - 1)
		moved := r.members[last]
		r.members[i] = moved
		r.index[moved] = i
		r.members = r.members[:last]
		delete(r.index, c)
		delete(r.presence, c)
		h.membersChanged(r.stream.target, len(r.members)+1, len(r.members))
		if u != nil && h.tracksPresence(r) {
			r.pending[u.name]--
			h.markPresence(r)
		}
	}
	empty := len(r.members) == 0
	r.mu.Unlock()
	if !empty {
		return
	}
	h.mu.Lock()
	r.mu.Lock()
	if len(r.members) == 0 && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
		r.gone = true
	}
	r.mu.Unlock()
	h.mu.Unlock()
}

// RoomInfo is what GET /v1/rooms/{room} reports.
type RoomInfo struct {
	Name    string
	Count   int
	Members []ConnID // only when asked for, at most the limit given
}

// Room returns a room's member count and up to limit members (limit 0: no
// list). ok is false when the room does not exist.
func (h *Hub) Room(name string, limit int) (RoomInfo, bool) {
	h.mu.RLock()
	r := h.rooms[name]
	h.mu.RUnlock()
	if r == nil {
		return RoomInfo{Name: name}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	info := RoomInfo{Name: name, Count: len(r.members)}
	if limit > 0 {
		info.Members = append([]ConnID(nil), r.members[:min(limit, len(r.members))]...)
	}
	return info, true
}
