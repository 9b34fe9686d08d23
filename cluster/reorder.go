package cluster

import (
	"cmp"
	"slices"
	"time"
)

// A nats-server republishes a stored message after it has numbered it,
// and some versions do so after releasing the stream's lock (2.9 does:
// two publishers on two connections can see their messages republished
// in the opposite order to their sequence numbers). The dispatcher
// therefore puts each target's live messages back in order: a message
// whose Prev is newer than the last Seq delivered waits, at most
// Config.ReorderWait and Config.MaxReorder messages, for the ones before
// it. When they do not come (they were dropped by a full delivery queue
// or published while the node was away), the held messages go out after
// the wait and the reader sees the hole through Prev.

// reorder is one target's held messages, sorted by Seq. It is owned by
// the dispatcher goroutine, like interest.last.
type reorder struct {
	held  []Message
	since time.Time // when the current wait began
}

// accept delivers msg for in now, holds it until the messages before it
// come, or drops it (a duplicate, or one that came after its place was
// given up). now is the dispatcher's clock.
func (c *Cluster) accept(in *interest, msg Message, now time.Time) {
	switch {
	case in.last != 0 && msg.Prev == 0 && msg.Seq <= in.last && in.gen != c.st.reconnects.Load():
		// The stream started over (memory storage, NATS restarted: the
		// node has reconnected since its last delivery), and may have
		// given this message a number already seen: what is held
		// belongs to the old numbering. Without a reconnect this is the
		// target's first message coming after the ones it preceded.
		c.flushHeld(in, now)
		in.last = 0
		c.emit(in, msg)
	case in.last != 0 && msg.Seq <= in.last:
		c.st.late.Add(1)
	case in.last != 0 && msg.Prev > in.last, in.last == 0 && msg.Prev != 0:
		// Also the first message since the subscription when it has a
		// predecessor: that one may have been republished after it
		// (and is then delivered first), or before the subscription
		// began (and the wait runs out).
		c.holdBack(in, msg, now)
	default:
		c.emit(in, msg)
		c.release(in, now)
	}
}

// holdBack keeps msg until the messages before it come; a full buffer gives
// up waiting at once.
func (c *Cluster) holdBack(in *interest, msg Message, now time.Time) {
	r := &in.re
	i, dup := slices.BinarySearchFunc(r.held, msg.Seq, func(m Message, seq uint64) int {
		return cmp.Compare(m.Seq, seq)
	})
	if dup {
		c.st.late.Add(1)
		return
	}
	if len(r.held) == 0 {
		r.since = now
		c.waiting[in] = struct{}{}
	}
	r.held = slices.Insert(r.held, i, msg)
	c.st.reordered.Add(1)
	if len(r.held) > c.cfg.MaxReorder {
		c.giveUp(in, now)
	}
}

// release delivers the held messages that are now in order.
func (c *Cluster) release(in *interest, now time.Time) {
	r := &in.re
	n := 0
	for n < len(r.held) && r.held[n].Prev <= in.last {
		if r.held[n].Seq > in.last {
			c.emit(in, r.held[n])
		} else {
			c.st.late.Add(1)
		}
		r.held[n] = Message{}
		n++
	}
	if n == 0 {
		return
	}
	r.held = slices.Delete(r.held, 0, n)
	if len(r.held) == 0 {
		r.held = nil
		delete(c.waiting, in)
	} else {
		r.since = now
	}
}

// giveUp stops waiting for the messages before the first held one: it
// goes out with its hole, then whatever follows it in order.
func (c *Cluster) giveUp(in *interest, now time.Time) {
	r := &in.re
	if len(r.held) == 0 {
		return
	}
	first := r.held[0]
	r.held[0] = Message{}
	r.held = r.held[1:]
	c.emit(in, first)
	c.release(in, now)
	if len(r.held) == 0 {
		r.held = nil
		delete(c.waiting, in)
	}
}

// flushHeld gives up on every wait of in.
func (c *Cluster) flushHeld(in *interest, now time.Time) {
	for len(in.re.held) > 0 {
		c.giveUp(in, now)
	}
}

// expire gives up the waits older than Config.ReorderWait, and forgets
// those of targets released meanwhile. It returns how long until the
// next wait expires (0: nothing is held).
func (c *Cluster) expire(now time.Time) time.Duration {
	var next time.Duration
	for in := range c.waiting {
		c.imu.RLock()
		current := c.bySubject[in.subject] == in
		c.imu.RUnlock()
		if !current {
			in.re = reorder{}
			delete(c.waiting, in)
			continue
		}
		for len(in.re.held) > 0 && now.Sub(in.re.since) >= c.cfg.ReorderWait {
			c.giveUp(in, now)
		}
		if len(in.re.held) > 0 {
			left := c.cfg.ReorderWait - now.Sub(in.re.since)
			if next == 0 || left < next {
				next = left
			}
		}
	}
	return next
}

// emit hands msg to the delivery callback and moves in's position.
func (c *Cluster) emit(in *interest, msg Message) {
	if in.last != 0 && msg.Prev > in.last {
		c.st.holes.Add(1)
	}
	in.last = msg.Seq
	in.gen = c.st.reconnects.Load()
	c.st.delivered.Add(1)
	c.deliver(msg)
}
