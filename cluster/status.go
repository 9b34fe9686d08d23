package cluster

import (
	"sync"
	"time"
)

// State is the backplane's health as Status reports it.
type State uint8

const (
	// StateStarting: not yet connected to NATS, or the stream not yet
	// checked, since New. Local delivery works; remote publishes are
	// refused.
	StateStarting State = iota
	// StateReady: connected, and the stream accepts messages.
	StateReady
	// StateDegraded: was ready, and now NATS is unreachable or the stream
	// is unavailable. Local delivery goes on; the node reconnects with
	// backoff and resubscribes by itself.
	StateDegraded
	// StateClosed: Close was called.
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateDegraded:
		return "degraded"
	case StateClosed:
		return "closed"
	}
	return "starting"
}

// Status is a snapshot of the backplane's health, for /readyz.
type Status struct {
	State State
	// Reason is one sentence saying why the state is not StateReady
	// ("disconnected from NATS: connection refused"); empty when ready.
	Reason string
	// Since is when the state last changed.
	Since time.Time
}

// health tracks the connection and the stream and derives Status.
type health struct {
	mu         sync.Mutex
	status     Status
	conn       bool   // connected to NATS
	stream     bool   // the stream was ensured since the last connect
	connWhy    string // why not connected
	streamWhy  string // why the stream is not usable
	wasReady   bool   // StateReady was reached once: later trouble is "degraded"
	isClosed   bool
	lastLogged string
}

func (h *health) init() {
	h.status = Status{State: StateStarting, Reason: "connecting to NATS", Since: time.Now()}
	h.connWhy = "connecting to NATS"
	h.streamWhy = "checking the stream"
}

// Status reports the backplane's health. It never blocks on the
// network.
func (c *Cluster) Status() Status {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	return c.health.status
}

func (c *Cluster) setConnected(ok bool, why string) {
	c.health.mu.Lock()
	c.health.conn = ok
	if ok {
		// The stream is checked again on every connection.
		c.health.stream = false
		c.health.streamWhy = "checking the stream"
	} else {
		c.health.connWhy = why
	}
	c.recompute()
}

func (c *Cluster) setStream(ok bool, why string) {
	c.health.mu.Lock()
	c.health.stream = ok
	if !ok {
		c.health.streamWhy = why
	}
	c.recompute()
}

func (c *Cluster) setClosed() {
	c.health.mu.Lock()
	c.health.isClosed = true
	c.recompute()
}

// recompute derives the status (health.mu held; it unlocks it) and logs
// a change.
func (c *Cluster) recompute() {
	h := &c.health
	next := Status{State: StateReady}
	switch {
	case h.isClosed:
		next = Status{State: StateClosed, Reason: "closed"}
	case !h.conn:
		next.State, next.Reason = StateDegraded, h.connWhy
	case !h.stream:
		next.State, next.Reason = StateDegraded, h.streamWhy
	}
	if next.State == StateReady {
		h.wasReady = true
	} else if next.State == StateDegraded && !h.wasReady {
		next.State = StateStarting
	}
	changed := next.State != h.status.State || next.Reason != h.status.Reason
	if changed {
		next.Since = time.Now()
		h.status = next
	}
	msg := next.State.String()
	if next.Reason != "" {
		msg += ": " + next.Reason
	}
	log := changed && msg != h.lastLogged
	if log {
		h.lastLogged = msg
	}
	h.mu.Unlock()
	if log {
		c.logf("cluster: backplane %s", msg)
	}
}
