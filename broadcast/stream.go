package broadcast

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// delivery is one framed message waiting in a stream's queue.
type delivery struct {
	frame    []byte
	at       int64    // when it was published (monotonic ns since the hub started)
	seq      uint64   // 0 for presence events and local messages (no sequence number)
	presence bool     // only for the room's presence subscribers
	local    bool     // PublishLocal: delivered on this node only
	wait     *waiter  // PublishWait's, or nil
	end      *syncEnd // not a message: a catch-up's end (EndSyncLive)
}

// waiter is how PublishWait learns that its message was fanned out: the
// drain sets targets, then closes done.
type waiter struct {
	done    chan struct{}
	targets int
}

// stream is a sequence of messages to one target (a room, a user, or
// everyone), delivered strictly in order: one drain task at a time.
type stream struct {
	target Target
	hub    *Hub
	// room or user is the stream's owner (nil for everyone): the fan-out
	// reaches that object's members, never those of a newer room or user
	// of the same name, so messages still queued when a room empties
	// cannot reach the room re-created under its name with the old
	// numbering.
	room *room
	user *user

	mu      sync.Mutex // guards the fields below
	seq     uint64
	queue   []delivery
	head    int
	ends    int // catch-up ends in queue (not counted against MaxStreamBacklog)
	running bool

	snap     []ConnID       // target snapshot, owned by the running drain task
	fanned   uint64         // seq of the last numbered message fanned out, owned by the drain task
	fanWG    sync.WaitGroup // chunks of the fan-out in progress
	fanCount atomic.Int64   // targets counted by KindAll chunks
}

// run drains the stream (a pool task).
func (s *stream) run() { s.hub.drain(s) }

// Publish frames data (valid JSON, copied) once as a message from `from`
// to t, with the stream's next sequence number, and queues it for fan-out.
// It returns the sequence number and does not wait for delivery (order is
// kept per stream). A target that does not exist (an empty room, a user
// with no connection) gets nothing: seq 0, no error.
func (h *Hub) Publish(t Target, from string, data []byte) (uint64, error) {
	seq, _, err := h.publish(t, from, data, false)
	return seq, err
}

// PublishWait is Publish that returns only after every target has been
// handed the frame (written or queued), with the number of targets. It
// keeps the stream's order: it waits for the messages queued before it.
// For the API's synchronous mode, tests and benchmarks; never call it
// from an event loop.
func (h *Hub) PublishWait(t Target, from string, data []byte) (seq uint64, targets int, err error) {
	return h.publish(t, from, data, true)
}

func (h *Hub) publish(t Target, from string, data []byte, wait bool) (uint64, int, error) {
	if h.closed.Load() {
		return 0, 0, ErrClosed
	}
	if h.draining.Load() {
		return 0, 0, ErrDraining
	}
	if !json.Valid(data) {
		return 0, 0, ErrBadData
	}
	s := h.streamOf(t)
	if s == nil {
		return 0, 0, nil
	}
	d := delivery{}
	if wait {
		d.wait = &waiter{done: make(chan struct{})}
	}
	s.mu.Lock()
	if len(s.queue)-s.head-s.ends >= h.cfg.MaxStreamBacklog {
		s.mu.Unlock()
		return 0, 0, ErrBacklog
	}
	s.seq++
	d.seq = s.seq
	d.at = h.nanotime()
	d.frame = EncodeMessage(t, from, d.seq, nowMillis(), data)
	start := h.enqueue(s, d)
	s.mu.Unlock()
	h.st.published.Add(1)
	if start {
		h.startDrain(s)
	}
	if wait {
		<-d.wait.done
		return d.seq, d.wait.targets, nil
	}
	return d.seq, 0, nil
}

// streamOf returns t's stream, or nil when t has no local members.
func (h *Hub) streamOf(t Target) *stream {
	switch t.Kind {
	case KindAll:
		return &h.all
	case KindRoom:
		h.mu.RLock()
		defer h.mu.RUnlock()
		if r := h.rooms[t.Name]; r != nil {
			return &r.stream
		}
	case KindUser:
		h.mu.RLock()
		defer h.mu.RUnlock()
		if u := h.users[t.Name]; u != nil {
			return &u.stream
		}
	}
	return nil
}

// enqueue appends d (s.mu held) and reports whether a drain must start.
func (h *Hub) enqueue(s *stream, d delivery) bool {
	if s.head > 0 && s.head*2 >= len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.head = 0
	}
	s.queue = append(s.queue, d)
	h.st.backlog.Add(1)
	if s.running {
		return false
	}
	s.running = true
	return true
}

// startDrain runs s's drain on the pool, or here when the pool is full
// (the publisher then pays for the fan-out itself, which is counted).
func (h *Hub) startDrain(s *stream) {
	s.hub = h
	h.st.running.Add(1)
	h.submit(s)
}

// drain delivers s's queue in order until it is empty.
func (h *Hub) drain(s *stream) {
	for {
		s.mu.Lock()
		if s.head == len(s.queue) {
			s.queue = s.queue[:0]
			s.head = 0
			s.running = false
			s.mu.Unlock()
			h.st.running.Add(-1)
			return
		}
		d := s.queue[s.head]
		s.queue[s.head] = delivery{}
		s.head++
		if d.end != nil {
			s.ends--
		}
		s.mu.Unlock()
		h.st.backlog.Add(-1)
		if d.end != nil {
			h.endSyncLive(s, d.end)
			continue
		}
		start := h.nanotime()
		n := h.fanout(s, d)
		if d.seq != 0 {
			s.fanned = d.seq
		}
		if f := h.cfg.OnBroadcast; f != nil && (d.seq != 0 || d.local) {
			end := h.nanotime()
			f(time.Duration(end-d.at), time.Duration(end-start), n)
		}
		if d.wait != nil {
			d.wait.targets = n
			close(d.wait.done)
		}
	}
}
