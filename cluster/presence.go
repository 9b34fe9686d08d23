package cluster

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// Presence across nodes is soft state. Each node tells the others, on
// <prefix>.p, how many members each of its rooms has and how many
// devices each of its users has:
//
//   - a change message (debounced by Config.PresenceDebounce) with the
//     new counts of the rooms and users that changed;
//   - a heartbeat every Config.PresenceInterval when nothing changed;
//   - a snapshot of every count when another node asks for one on
//     <prefix>.p.sync (it joined, or it saw a message missing), and
//     after each reconnection;
//   - a leave message when it closes.
//
// Every message carries the node's name, its process instance and a
// sequence number, so a receiver notices a lost message (and asks for
// a snapshot) and a restarted node (and forgets the old counts). A node
// not heard from for Config.PresenceTTL stops counting.

// Presence message types.
const (
	presHeartbeat byte = 'h'
	presChanges   byte = 'd'
	presSnapshot  byte = 's'
	presLeave     byte = 'l'

	presVersion    = 1
	snapBegin      = 1
	snapEnd        = 2
	presMaxMessage = 32 << 10
)

// nodeID names one process of one node.
type nodeID struct {
	name     string
	instance uint64
}

func newNodeID(name string) nodeID { return nodeID{name: name, instance: rand.Uint64() | 1} }

// remoteNode is what a node knows of another.
type remoteNode struct {
	instance uint64
	seq      uint64
	seen     time.Time
	synced   bool // counts come from a complete snapshot and every message since
	counts   map[broadcast.Target]int32
	staging  map[broadcast.Target]int32 // a snapshot being received
	asked    time.Time                  // last snapshot request
}

// presence holds this node's counts and the other nodes'.
type presence struct {
	c *Cluster

	mu       sync.Mutex
	local    map[broadcast.Target]int32
	dirty    map[broadcast.Target]struct{}
	seq      uint64
	wantSnap bool
	nextBeat time.Time
	remote   map[string]*remoteNode
	dropped  int64 // entries refused by MaxPresenceEntries or MaxNodes

	ticker *time.Ticker
}

func newPresence(c *Cluster) *presence {
	return &presence{
		c:      c,
		local:  map[broadcast.Target]int32{},
		dirty:  map[broadcast.Target]struct{}{},
		remote: map[string]*remoteNode{},
		ticker: time.NewTicker(c.cfg.PresenceDebounce),
	}
}

func (p *presence) subscribe() error {
	if _, err := p.c.nc.Subscribe(p.c.subj.presence(), p.onMessage); err != nil {
		return fmt.Errorf("cannot subscribe to presence: %w", err)
	}
	if _, err := p.c.nc.Subscribe(p.c.subj.presenceSync(), p.onSync); err != nil {
		return fmt.Errorf("cannot subscribe to presence requests: %w", err)
	}
	return nil
}

func (p *presence) timer() <-chan time.Time { return p.ticker.C }
func (p *presence) close()                  { p.ticker.Stop() }

// kick sends a full snapshot soon (after a reconnection the others may
// have missed changes).
func (p *presence) kick() {
	p.mu.Lock()
	p.wantSnap = true
	p.mu.Unlock()
}

// SetCount records this node's count for t: a room's local members or
// a user's local devices (0 removes it). The other nodes learn it
// within Config.PresenceDebounce. It never blocks on the network.
// Counts for "everyone" are ignored.
func (c *Cluster) SetCount(t broadcast.Target, n int) {
	if t.Kind == broadcast.KindAll || t.Name == "" {
		return
	}
	p := c.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	old, had := p.local[t]
	switch {
	case n <= 0:
		if !had {
			return
		}
		delete(p.local, t)
	case !had && len(p.local) >= c.cfg.MaxPresenceEntries:
		p.dropped++
		return
	default:
		if had && old == int32(n) {
			return
		}
		p.local[t] = int32(min(n, 1<<31-1))
	}
	p.dirty[t] = struct{}{}
}

// RoomCount returns a room's members on every node: this node's count
// (SetCount) and the last counts of the nodes heard from within
// Config.PresenceTTL.
func (c *Cluster) RoomCount(room string) int {
	return c.presence.count(broadcast.ToRoom(room))
}

// UserOnline reports whether a user has a device on any node, and how
// many devices in all.
func (c *Cluster) UserOnline(user string) (online bool, devices int) {
	n := c.presence.count(broadcast.ToUser(user))
	return n > 0, n
}

// Nodes returns the names of the other nodes counted now.
func (c *Cluster) Nodes() []string {
	p := c.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := time.Now().Add(-c.cfg.PresenceTTL)
	var names []string
	for name, rn := range p.remote {
		if rn.seen.After(limit) {
			names = append(names, name)
		}
	}
	return names
}

func (p *presence) count(t broadcast.Target) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := int(p.local[t])
	limit := time.Now().Add(-p.c.cfg.PresenceTTL)
	for _, rn := range p.remote {
		if rn.seen.After(limit) {
			n += int(rn.counts[t])
		}
	}
	return n
}

// tick runs every PresenceDebounce on the manager goroutine: it sends
// the changes (or a snapshot, or a heartbeat) and forgets silent nodes.
func (p *presence) tick() {
	now := time.Now()
	p.mu.Lock()
	var out [][]byte
	switch {
	case p.wantSnap:
		p.wantSnap = false
		clear(p.dirty)
		out = p.encodeLocked(presSnapshot, func(yield func(broadcast.Target, int32)) {
			for t, n := range p.local {
				yield(t, n)
			}
		})
	case len(p.dirty) > 0:
		out = p.encodeLocked(presChanges, func(yield func(broadcast.Target, int32)) {
			for t := range p.dirty {
				yield(t, p.local[t])
			}
		})
		clear(p.dirty)
	case !now.Before(p.nextBeat):
		out = p.encodeLocked(presHeartbeat, nil)
	}
	if len(out) > 0 {
		p.nextBeat = now.Add(p.c.cfg.PresenceInterval)
	}
	limit := now.Add(-p.c.cfg.PresenceTTL)
	for name, rn := range p.remote {
		if !rn.seen.After(limit) {
			delete(p.remote, name)
		}
	}
	p.mu.Unlock()
	for _, b := range out {
		if err := p.c.nc.Publish(p.c.subj.presence(), b); err != nil {
			// The sequence number is spent: the others see the hole
			// and ask for a snapshot once the connection is back.
			return
		}
	}
}

// leave tells the others to stop counting this node (Close).
func (p *presence) leave() {
	p.mu.Lock()
	out := p.encodeLocked(presLeave, nil)
	p.mu.Unlock()
	if p.c.connected.Load() {
		_ = p.c.nc.Publish(p.c.subj.presence(), out[0])
		_ = p.c.nc.FlushTimeout(time.Second)
	}
}

// encodeLocked builds the messages of one kind (p.mu held): each starts
// with the node's identity, its sequence number and, for a snapshot,
// begin/end flags, and holds entries up to presMaxMessage bytes.
func (p *presence) encodeLocked(kind byte, entries func(yield func(broadcast.Target, int32))) [][]byte {
	var out [][]byte
	var cur []byte
	start := func() {
		p.seq++
		cur = make([]byte, 0, 256)
		cur = append(cur, presVersion, kind)
		cur = binary.AppendUvarint(cur, uint64(len(p.c.node.name)))
		cur = append(cur, p.c.node.name...)
		cur = binary.LittleEndian.AppendUint64(cur, p.c.node.instance)
		cur = binary.AppendUvarint(cur, p.seq)
		if kind == presSnapshot {
			cur = append(cur, 0) // flags, set below
		}
	}
	flagAt := 0
	start()
	flagAt = len(cur) - 1
	if entries != nil {
		entries(func(t broadcast.Target, n int32) {
			if len(cur)+len(t.Name)+16 > presMaxMessage {
				out = append(out, cur)
				start()
			}
			cur = append(cur, kindLetter(t.Kind))
			cur = binary.AppendUvarint(cur, uint64(len(t.Name)))
			cur = append(cur, t.Name...)
			cur = binary.AppendUvarint(cur, uint64(n))
		})
	}
	out = append(out, cur)
	if kind == presSnapshot {
		out[0][flagAt] |= snapBegin
		last := out[len(out)-1]
		last[flagAt] |= snapEnd
	}
	return out
}

// presenceMsg is a decoded presence message; entries are read by each.
type presenceMsg struct {
	kind     byte
	node     string
	instance uint64
	seq      uint64
	flags    byte
	body     []byte
}

func decodePresence(b []byte) (presenceMsg, bool) {
	var m presenceMsg
	if len(b) < 2 || b[0] != presVersion {
		return m, false
	}
	m.kind, b = b[1], b[2:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 256 || uint64(len(b)-k) < n+8 {
		return m, false
	}
	m.node, b = string(b[k:k+int(n)]), b[k+int(n):]
	m.instance, b = binary.LittleEndian.Uint64(b), b[8:]
	if m.seq, k = binary.Uvarint(b); k <= 0 {
		return m, false
	}
	b = b[k:]
	if m.kind == presSnapshot {
		if len(b) < 1 {
			return m, false
		}
		m.flags, b = b[0], b[1:]
	}
	m.body = b
	return m, true
}

// each calls f for every entry; false for a malformed body.
func (m presenceMsg) each(f func(broadcast.Target, int32)) bool {
	b := m.body
	for len(b) > 0 {
		var t broadcast.Target
		switch b[0] {
		case 'r':
			t.Kind = broadcast.KindRoom
		case 'u':
			t.Kind = broadcast.KindUser
		default:
			return false
		}
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || uint64(len(b)-1-k) < n {
			return false
		}
		t.Name = string(b[1+k : 1+k+int(n)])
		b = b[1+k+int(n):]
		cnt, k := binary.Uvarint(b)
		if k <= 0 || cnt > 1<<31-1 {
			return false
		}
		b = b[k:]
		f(t, int32(cnt))
	}
	return true
}

// onMessage applies another node's presence message (its subscription
// goroutine).
func (p *presence) onMessage(msg *nats.Msg) {
	m, ok := decodePresence(msg.Data)
	if !ok || m.node == p.c.node.name {
		return
	}
	if p.apply(m, time.Now()) {
		// A failure is retried at the node's next message.
		_ = p.c.nc.Publish(p.c.subj.presenceSync(), []byte(m.node))
	}
}

// apply updates what this node knows of m's sender and reports whether
// to ask it for a snapshot (sent by the caller without p.mu held: a
// publish may wait on the connection, SetCount must not wait on it).
func (p *presence) apply(m presenceMsg, now time.Time) (askSnapshot bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rn := p.remote[m.node]
	if m.kind == presLeave {
		if rn != nil && rn.instance == m.instance {
			delete(p.remote, m.node)
		}
		return false
	}
	if rn == nil || rn.instance != m.instance {
		if rn == nil && len(p.remote) >= p.c.cfg.MaxNodes {
			p.dropped++
			return false
		}
		rn = &remoteNode{instance: m.instance, counts: map[broadcast.Target]int32{}}
		p.remote[m.node] = rn
	}
	inOrder := rn.seq != 0 && m.seq == rn.seq+1
	rn.seq, rn.seen = m.seq, now
	if !inOrder {
		rn.synced = false
		rn.staging = nil
	}
	switch m.kind {
	case presChanges:
		if !m.each(func(t broadcast.Target, n int32) { p.setRemote(rn, rn.counts, t, n) }) {
			rn.synced = false
		}
	case presSnapshot:
		if m.flags&snapBegin != 0 {
			rn.staging = map[broadcast.Target]int32{}
		}
		if rn.staging == nil {
			break // a part of a snapshot whose beginning was missed
		}
		if !m.each(func(t broadcast.Target, n int32) { p.setRemote(rn, rn.staging, t, n) }) {
			rn.staging = nil
			break
		}
		if m.flags&snapEnd != 0 {
			rn.counts, rn.staging, rn.synced = rn.staging, nil, true
		}
	}
	if !rn.synced && rn.staging == nil && now.Sub(rn.asked) >= p.c.cfg.PresenceInterval {
		rn.asked = now
		return true
	}
	return false
}

// setRemote stores one remote count, within MaxPresenceEntries.
func (p *presence) setRemote(rn *remoteNode, into map[broadcast.Target]int32, t broadcast.Target, n int32) {
	if n <= 0 {
		delete(into, t)
		return
	}
	if _, had := into[t]; !had && len(into) >= p.c.cfg.MaxPresenceEntries {
		p.dropped++
		return
	}
	into[t] = n
}

// onSync answers a snapshot request naming this node (sent at the next
// tick, so requests arriving together cost one snapshot).
func (p *presence) onSync(msg *nats.Msg) {
	if string(msg.Data) == p.c.node.name {
		p.kick()
	}
}
