package broadcast

import (
	"encoding/json"
	"sync"
	"time"
)

// delivery is one framed message waiting in a stream's queue.
type delivery struct {
	frame    []byte
	seq      uint64 // 0 for presence events (no sequence number)
	presence bool   // only for the room's presence subscribers
}

// stream is a sequence of messages to one target (a room, a user, or
// everyone), delivered strictly in order: one drain task at a time.
type stream struct {
	target Target

	mu      sync.Mutex // guards the fields below
	seq     uint64
	queue   []delivery
	head    int
	running bool

	snap []ConnID // target snapshot, owned by the running drain task
}

// Publish frames data (valid JSON, copied) once as a message from `from`
// to t, with the stream's next sequence number, and queues it for fan-out.
// It returns the sequence number and does not wait for delivery (order is
// kept per stream). A target that does not exist (an empty room, a user
// with no connection) gets nothing: seq 0, no error.
func (h *Hub) Publish(t Target, from string, data []byte) (uint64, error) {
	if h.closed.Load() {
		return 0, ErrClosed
	}
	if !json.Valid(data) {
		return 0, ErrBadData
	}
	var s *stream
	switch t.Kind {
	case KindAll:
		s = &h.all
	case KindRoom:
		h.mu.RLock()
		if r := h.rooms[t.Name]; r != nil {
			s = &r.stream
		}
		h.mu.RUnlock()
	case KindUser:
		h.mu.RLock()
		if u := h.users[t.Name]; u != nil {
			s = &u.stream
		}
		h.mu.RUnlock()
	}
	if s == nil {
		return 0, nil
	}
	s.mu.Lock()
	if len(s.queue)-s.head >= h.cfg.MaxStreamBacklog {
		s.mu.Unlock()
		return 0, ErrBacklog
	}
	s.seq++
	seq := s.seq
	frame := encodeMessage(t, from, seq, nowMillis(), data)
	start := h.enqueue(s, delivery{frame: frame, seq: seq})
	s.mu.Unlock()
	h.st.published.Add(1)
	if start {
		h.startDrain(s)
	}
	return seq, nil
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
	if err := h.pool.Submit(func() { h.drain(s) }); err != nil {
		h.st.inlineChunks.Add(1)
		h.drain(s)
	}
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
			return
		}
		d := s.queue[s.head]
		s.queue[s.head] = delivery{}
		s.head++
		s.mu.Unlock()
		h.st.backlog.Add(-1)
		start := time.Now()
		n := h.fanout(s, d)
		if f := h.cfg.OnBroadcast; f != nil {
			f(time.Since(start), n)
		}
	}
}
