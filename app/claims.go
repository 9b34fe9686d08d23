package app

import (
	"strings"
	"sync"

	"c1m/server"
)

// claimTable interns the restrictions of connections' tokens (the rooms
// and dm claims): connections whose tokens restrict them the same way
// share one entry, named by an index held in the connection's engine Tag,
// so that a restricted connection costs no memory of its own for them and
// an unrestricted one (index 0) none at all. Entries are reference
// counted and freed with their last connection.
//
// Concurrency: safe for concurrent use; get is on every message.
type claimTable struct {
	mu      sync.RWMutex
	byKey   map[string]uint32
	entries []*claimSet // by index; 0 is unused (no restriction)
	free    []uint32
}

// claimSet is one set of restrictions.
type claimSet struct {
	id   server.Identity // Rooms, DM, NoDM only
	key  string
	refs int
}

func newClaimTable() *claimTable {
	return &claimTable{byKey: map[string]uint32{}, entries: make([]*claimSet, 1)}
}

// acquire returns the index of id's restrictions, 0 when it has none.
func (t *claimTable) acquire(id *server.Identity) uint32 {
	if id.Rooms == nil && id.DM == nil && !id.NoDM {
		return 0
	}
	key := claimKey(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.byKey[key]; ok {
		t.entries[i].refs++
		return i
	}
	cs := &claimSet{id: server.Identity{Rooms: id.Rooms, DM: id.DM, NoDM: id.NoDM}, key: key, refs: 1}
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
		t.entries[i] = cs
	} else {
		i = uint32(len(t.entries))
		t.entries = append(t.entries, cs)
	}
	t.byKey[key] = i
	return i
}

// release drops one reference to index i.
func (t *claimTable) release(i uint32) {
	if i == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := t.entries[i]
	if cs == nil {
		return
	}
	if cs.refs--; cs.refs == 0 {
		delete(t.byKey, cs.key)
		t.entries[i] = nil
		t.free = append(t.free, i)
	}
}

// get returns the restrictions of index i; nil for 0 (none).
func (t *claimTable) get(i uint32) *server.Identity {
	if i == 0 {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(i) >= len(t.entries) || t.entries[i] == nil {
		return nil
	}
	return &t.entries[i].id
}

// claimKey is a canonical text of id's restrictions: NUL cannot occur in
// a JSON string claim's pattern, so it separates them safely.
func claimKey(id *server.Identity) string {
	var b strings.Builder
	if id.Rooms == nil {
		b.WriteString("*")
	} else {
		b.WriteString("r")
		for _, p := range id.Rooms {
			b.WriteString("\x00" + p)
		}
	}
	switch {
	case id.NoDM:
		b.WriteString("\x01-")
	case id.DM == nil:
		b.WriteString("\x01*")
	default:
		b.WriteString("\x01d")
		for _, p := range id.DM {
			b.WriteString("\x00" + p)
		}
	}
	return b.String()
}
