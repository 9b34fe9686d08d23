package cluster

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

var allTarget = broadcast.ToAll()

// interest is one subscribed target: a room or user with local members,
// or "everyone".
type interest struct {
	subject string
	target  broadcast.Target
	refs    int                // guarded by interests.mu
	sub     *nats.Subscription // guarded by interests.mu; set by the writer
	last    uint64             // the last Seq delivered; the dispatcher's own
	gen     int64              // the reconnect count at that delivery; the dispatcher's own
	re      reorder            // messages waiting for earlier ones; the dispatcher's own
}

// interests is the node's reference-counted subscriptions. Interest and
// Release only count and mark the target dirty; the writer goroutine
// subscribes and unsubscribes (a NATS call can wait on the connection's
// lock, and Interest is called from event loops).
type interests struct {
	imu       sync.RWMutex
	bySubject map[string]*interest
	bySub     map[*nats.Subscription]*interest
	dirty     map[*interest]struct{}
	kick      chan struct{} // wakes the writer to reconcile
	msgs      chan *nats.Msg
	max       int
	// waiting is the targets with held messages; the dispatcher's own.
	waiting map[*interest]struct{}
}

func (s *interests) init(cfg Config) {
	s.bySubject = map[string]*interest{}
	s.bySub = map[*nats.Subscription]*interest{}
	s.dirty = map[*interest]struct{}{}
	s.waiting = map[*interest]struct{}{}
	s.kick = make(chan struct{}, 1)
	s.msgs = make(chan *nats.Msg, cfg.DeliveryQueue)
	s.max = cfg.MaxInterest
}

// hold adds a reference to subject's interest (imu not held; the entry
// is created when missing) and marks it dirty on its first reference.
// It returns nil when the cap is reached.
func (s *interests) hold(subject string, t broadcast.Target) *interest {
	s.imu.Lock()
	defer s.imu.Unlock()
	in := s.bySubject[subject]
	if in == nil {
		if len(s.bySubject) >= s.max {
			return nil
		}
		in = &interest{subject: subject, target: t}
		s.bySubject[subject] = in
	}
	in.refs++
	if in.refs == 1 {
		s.dirty[in] = struct{}{}
	}
	return in
}

// Interest tells the cluster that this node has local members of t (a
// room's first member joined, a user's first device connected): the
// node subscribes to t's messages. Calls are counted: each Interest
// needs one Release. It never blocks on the network; the subscription
// is made (or restored after a reconnection) by the Cluster's writer,
// so a message published right after Interest returns may still miss
// this node (use History with the last Seq seen to close that window).
// Interest in "everyone" is always held and needs no call.
func (c *Cluster) Interest(t broadcast.Target) error {
	if t.Kind == broadcast.KindAll {
		return nil
	}
	subject, err := c.subj.live(t)
	if err != nil {
		return err
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	if c.hold(subject, t) == nil {
		return ErrInterestFull
	}
	c.wake()
	return nil
}

// Release drops one reference taken by Interest (a room's last member
// left, a user's last device went away). At zero the node unsubscribes;
// messages already received may still be delivered once. Releasing a
// target without interest does nothing.
func (c *Cluster) Release(t broadcast.Target) {
	if t.Kind == broadcast.KindAll {
		return
	}
	subject, err := c.subj.live(t)
	if err != nil {
		return
	}
	c.imu.Lock()
	in := c.bySubject[subject]
	if in == nil || in.refs == 0 {
		c.imu.Unlock()
		return
	}
	in.refs--
	if in.refs == 0 {
		c.dirty[in] = struct{}{}
	}
	c.imu.Unlock()
	c.wake()
}

// Interested reports whether the node holds interest in t (a reference
// count above zero).
func (c *Cluster) Interested(t broadcast.Target) bool {
	if t.Kind == broadcast.KindAll {
		return true
	}
	subject, err := c.subj.live(t)
	if err != nil {
		return false
	}
	c.imu.RLock()
	defer c.imu.RUnlock()
	in := c.bySubject[subject]
	return in != nil && in.refs > 0
}

func (c *Cluster) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// reconcile makes the subscriptions match the reference counts of the
// dirty entries. Writer goroutine only (and New, before it starts).
func (c *Cluster) reconcile() {
	c.imu.Lock()
	work := make([]*interest, 0, len(c.dirty))
	for in := range c.dirty {
		work = append(work, in)
	}
	clear(c.dirty)
	c.imu.Unlock()
	for _, in := range work {
		c.imu.RLock()
		want, have := in.refs > 0, in.sub
		c.imu.RUnlock()
		switch {
		case want && have == nil:
			sub, err := c.nc.ChanSubscribe(in.subject, c.msgs)
			if err != nil {
				// Only a closed connection refuses a subscription.
				c.logf("cluster: cannot subscribe to %s: %v", in.subject, err)
				continue
			}
			c.imu.Lock()
			in.sub = sub
			c.bySub[sub] = in
			if in.refs == 0 {
				c.dirty[in] = struct{}{} // released meanwhile
			}
			c.imu.Unlock()
		case !want && have != nil:
			_ = have.Unsubscribe()
			c.imu.Lock()
			delete(c.bySub, have)
			in.sub = nil
			if in.refs == 0 && c.bySubject[in.subject] == in {
				delete(c.bySubject, in.subject)
			} else if in.refs > 0 {
				c.dirty[in] = struct{}{} // taken again meanwhile
			}
			c.imu.Unlock()
		case !want:
			c.imu.Lock()
			if in.refs == 0 && in.sub == nil && c.bySubject[in.subject] == in {
				delete(c.bySubject, in.subject)
			}
			c.imu.Unlock()
		}
	}
	c.imu.RLock()
	again := len(c.dirty) > 0
	c.imu.RUnlock()
	if again {
		c.wake()
	}
}

// dispatcher hands received messages to the delivery callback on one
// goroutine, each target's in sequence order (see reorder.go).
func (c *Cluster) dispatcher() {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		select {
		case <-c.stop:
			timer.Stop()
			return
		case m := <-c.msgs:
			c.dispatch(m, time.Now())
		case now := <-timer.C:
			armed = false
			if next := c.expire(now); next > 0 {
				timer.Reset(next)
				armed = true
			}
		}
		if !armed && len(c.waiting) > 0 {
			timer.Reset(c.cfg.ReorderWait)
			armed = true
		}
	}
}

func (c *Cluster) dispatch(m *nats.Msg, now time.Time) {
	c.imu.RLock()
	in := c.bySub[m.Sub]
	c.imu.RUnlock()
	if in == nil {
		return // released since
	}
	msg, ok := messageFrom(in.target, m)
	if !ok {
		c.st.foreign.Add(1)
		return
	}
	c.accept(in, msg, now)
}
