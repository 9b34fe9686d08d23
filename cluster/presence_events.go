package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"c1m/broadcast"
)

// Presence events across nodes: who joined and left a room, as each node's
// hub nets them over its presence window, travel on <prefix>.pe to every
// node (core NATS, no history: soft state like the counts); a node passes
// on only the events of rooms it has members in. Bounded: at most
// maxEventNames names per list, events over maxEventBytes are not sent.

// PresenceEventFunc receives another node's presence changes of a room
// this node has interest in. It runs on a NATS goroutine and must not
// block.
type PresenceEventFunc func(room string, joined, left []string)

const (
	maxEventNames = 1000
	maxEventBytes = 64 << 10
)

type presenceEvent struct {
	Room   string   `json:"r"`
	Joined []string `json:"j,omitempty"`
	Left   []string `json:"l,omitempty"`
}

func (s subjects) presenceEvents() string { return s.prefix + ".pe" }

// OnPresenceEvent sets the receiver of the other nodes' presence events
// (nil: none). Set it right after New: events that arrive before are
// dropped.
func (c *Cluster) OnPresenceEvent(f PresenceEventFunc) {
	if f == nil {
		c.onPresEvent.Store(nil)
		return
	}
	c.onPresEvent.Store(&f)
}

// PublishPresenceEvent tells the other nodes who joined and left room on
// this node in its last presence window. It does not wait for the network
// beyond handing the message to the connection; it fails at once with
// ErrNotConnected while NATS is unreachable (the events are lost then:
// the counts catch up by themselves).
func (c *Cluster) PublishPresenceEvent(room string, joined, left []string) error {
	if room == "" {
		return ErrBadName
	}
	if !c.connected.Load() {
		return ErrNotConnected
	}
	b, err := json.Marshal(presenceEvent{Room: room, Joined: capNames(joined), Left: capNames(left)})
	if err != nil {
		return fmt.Errorf("cannot encode a presence event: %w", err)
	}
	if len(b) > maxEventBytes {
		return ErrTooLarge
	}
	if err := c.nc.Publish(c.subj.presenceEvents(), b); err != nil {
		return fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return nil
}

func capNames(names []string) []string {
	if len(names) > maxEventNames {
		return names[:maxEventNames]
	}
	return names
}

// subscribePresenceEvents listens to the other nodes' events (NoEcho
// keeps this node's own away).
func (c *Cluster) subscribePresenceEvents() error {
	if _, err := c.nc.Subscribe(c.subj.presenceEvents(), c.onPresenceEvent); err != nil {
		return fmt.Errorf("cannot subscribe to presence events: %w", err)
	}
	return nil
}

func (c *Cluster) onPresenceEvent(m *nats.Msg) {
	fp := c.onPresEvent.Load()
	if fp == nil || len(m.Data) > maxEventBytes {
		return
	}
	var ev presenceEvent
	if json.Unmarshal(m.Data, &ev) != nil || ev.Room == "" {
		return
	}
	if !c.Interested(broadcast.ToRoom(ev.Room)) {
		return
	}
	(*fp)(ev.Room, capNames(ev.Joined), capNames(ev.Left))
}
