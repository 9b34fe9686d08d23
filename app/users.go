package app

import (
	"sync"

	"c1m/broadcast"
)

// userTable holds, per user id, what outlives one connection: the rate
// bucket (reconnecting does not refill it), the user's open connections,
// oldest first (for Config.ConnsPerUser), and when the user was last seen
// (for c1m_reconnects_total). A user with no connection keeps its entry
// for recentWindow, and at most maxIdle such entries are kept (the oldest
// go first), so the table is bounded by the connected users plus maxIdle.
//
// Entries are named by an index (the connection's connState.user), so
// the fd-indexed state holds no pointer. Concurrency: mu guards the table;
// each entry's own mu guards its bucket and connections, which the loops
// of the user's several connections share.
type userTable struct {
	mu      sync.RWMutex
	byName  map[string]uint32
	entries []*userEntry // by index; 0 is unused (anonymous)
	free    []uint32
	gen     uint32
	idle    []idleRef // users whose last connection closed, oldest first
	window  int64     // ms an idle entry is kept
	maxIdle int
}

// userEntry is one user id's state.
type userEntry struct {
	mu     sync.Mutex
	name   string
	b      bucket
	conns  []broadcast.ConnID // open connections, oldest first
	idleAt uint32             // ms since start when the last connection closed; valid when conns is empty
	gen    uint32             // which user holds the index: an idleRef of an earlier one is stale
}

// idleRef names an entry that went idle at a time; it is stale if the
// entry has connected since (or was replaced).
type idleRef struct {
	index, gen, at uint32
}

func newUserTable(windowMs int64, maxIdle int) *userTable {
	return &userTable{byName: map[string]uint32{}, entries: make([]*userEntry, 1), window: windowMs, maxIdle: maxIdle}
}

// open records connection c of user name at now (ms). It returns the
// entry's index, whether the user was seen within the window (a
// reconnect, or another device), and, when the user now has more than
// limit connections, the oldest, which the caller closes.
func (t *userTable) open(name string, c broadcast.ConnID, now uint32, limit int, burst float32) (index uint32, seen bool, evict broadcast.ConnID, over bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prune(now)
	index, ok := t.byName[name]
	var e *userEntry
	if ok {
		e = t.entries[index]
		seen = true
	} else {
		t.gen++
		e = &userEntry{name: name, b: bucket{tokens: burst, last: now}, gen: t.gen}
		if n := len(t.free); n > 0 {
			index = t.free[n-1]
			t.free = t.free[:n-1]
			t.entries[index] = e
		} else {
			index = uint32(len(t.entries))
			t.entries = append(t.entries, e)
		}
		t.byName[name] = index
	}
	e.mu.Lock()
	e.conns = append(e.conns, c)
	if limit > 0 && len(e.conns) > limit {
		evict, over = e.conns[0], true
	}
	e.mu.Unlock()
	return index, seen, evict, over
}

// close records that connection c of entry index closed at now.
func (t *userTable) close(index uint32, c broadcast.ConnID, now uint32) {
	e := t.get(index)
	if e == nil {
		return
	}
	e.mu.Lock()
	for i, x := range e.conns {
		if x == c {
			e.conns = append(e.conns[:i], e.conns[i+1:]...)
			break
		}
	}
	idle := len(e.conns) == 0
	if idle {
		e.idleAt = now
	}
	e.mu.Unlock()
	if idle {
		t.mu.Lock()
		t.idle = append(t.idle, idleRef{index: index, gen: e.gen, at: now})
		t.prune(now)
		t.mu.Unlock()
	}
}

// get returns entry index, or nil.
func (t *userTable) get(index uint32) *userEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if index == 0 || int(index) >= len(t.entries) {
		return nil
	}
	return t.entries[index]
}

// prune drops idle entries older than the window, and the oldest idle
// ones past maxIdle (t.mu held).
func (t *userTable) prune(now uint32) {
	drop := 0
	for drop < len(t.idle) {
		r := t.idle[drop]
		if int64(now-r.at) < t.window && len(t.idle)-drop <= t.maxIdle {
			break
		}
		drop++
		e := t.entries[r.index]
		if e == nil {
			continue
		}
		e.mu.Lock()
		stale := e.gen != r.gen || len(e.conns) > 0 || e.idleAt != r.at
		e.mu.Unlock()
		if stale {
			continue // connected again since; a later ref may name it
		}
		delete(t.byName, e.name)
		t.entries[r.index] = nil
		t.free = append(t.free, r.index)
	}
	if drop > 0 {
		n := copy(t.idle, t.idle[drop:])
		clear(t.idle[n:])
		t.idle = t.idle[:n]
	}
}

// size returns the entries held, connected and idle.
func (t *userTable) size() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byName)
}
