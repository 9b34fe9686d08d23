package broadcast

import (
	"sync"
	"sync/atomic"
)

// member is the Hub's record of one connection, stored by value in the
// fd-indexed table. state packs the generation and a registered bit so that
// the fan-out checks a target with one atomic load and no lock.
type member struct {
	state atomic.Uint64 // gen<<1 | 1 while registered
	flags memberFlags   // flagSlow, flagGapOn, flagSyncOn

	mu    sync.Mutex // guards the fields below
	user  *user
	rooms []*room
	gaps  map[*stream]*gap     // PolicyDrop: missed ranges per stream
	sync  map[*stream]*syncBuf // catch-ups in progress (JoinFrom)
}

func packState(gen uint32) uint64 { return uint64(gen)<<1 | 1 }

// lookup returns c's member if c is registered.
func (h *Hub) lookup(c ConnID) *member {
	if c.FD < 0 || int(c.FD) >= len(h.members) {
		return nil
	}
	m := &h.members[c.FD]
	if m.state.Load() != packState(c.Gen) {
		return nil
	}
	return m
}

// user is one user id and its devices (connections).
type user struct {
	name    string
	devices []ConnID // guarded by mu
	mu      sync.Mutex
	stream  stream
}

// Register records connection c, of user name ("" for anonymous), so that
// it receives messages to everyone and, with a name, to its user.
func (h *Hub) Register(c ConnID, name string) error {
	if c.FD < 0 || int(c.FD) >= len(h.members) {
		return ErrNotRegistered
	}
	if name != "" && !h.validName(name) {
		return ErrBadName
	}
	m := &h.members[c.FD]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rooms = m.rooms[:0]
	m.gaps = nil
	m.flags.set(flagGapOn, false)
	m.sync = nil
	m.flags.set(flagSyncOn, false)
	m.flags.set(flagSlow, false)
	m.user = nil
	if name != "" {
		h.mu.Lock()
		u := h.users[name]
		if u == nil {
			u = &user{name: name}
			u.stream.target = ToUser(name)
			u.stream.user = u
			h.users[name] = u
		}
		u.mu.Lock()
		u.devices = append(u.devices, c)
		h.membersChanged(u.stream.target, len(u.devices)-1, len(u.devices))
		u.mu.Unlock()
		h.mu.Unlock()
		m.user = u
	}
	m.state.Store(packState(c.Gen))
	return nil
}

// Unregister removes c from its rooms and its user. It is idempotent.
func (h *Hub) Unregister(c ConnID) {
	m := h.lookup(c)
	if m == nil {
		return
	}
	m.mu.Lock()
	m.state.Store(0)
	rooms := m.rooms
	m.rooms = nil
	u := m.user
	m.user = nil
	m.gaps = nil
	m.flags.set(flagGapOn, false)
	m.sync = nil
	m.flags.set(flagSyncOn, false)
	m.mu.Unlock()
	for _, r := range rooms {
		h.removeFromRoom(r, c, u)
	}
	if u != nil {
		h.mu.Lock()
		u.mu.Lock()
		for i, d := range u.devices {
			if d == c {
				last := len(u.devices) - 1
				u.devices[i] = u.devices[last]
				u.devices = u.devices[:last]
				h.membersChanged(u.stream.target, last+1, last)
				break
			}
		}
		if len(u.devices) == 0 {
			delete(h.users, u.name)
		}
		u.mu.Unlock()
		h.mu.Unlock()
	}
}

// UserOf returns the user c was registered with.
func (h *Hub) UserOf(c ConnID) string {
	m := h.lookup(c)
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.user == nil {
		return ""
	}
	return m.user.name
}

// Devices returns the connections of a user.
func (h *Hub) Devices(name string) []ConnID {
	h.mu.RLock()
	u := h.users[name]
	h.mu.RUnlock()
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]ConnID(nil), u.devices...)
}
