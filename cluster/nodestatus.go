package cluster

import (
	"encoding/binary"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Node status: each node's own figures (its metrics text, which the
// application chooses) on <prefix>.ns, every few seconds, for the other
// nodes' status pages. Soft state: a receiver keeps the last one of each
// node. Messages over maxStatusBytes are not sent.

// NodeStatusFunc receives another node's status payload. It runs on a
// NATS goroutine and must not block; b belongs to the receiver.
type NodeStatusFunc func(node string, b []byte)

const maxStatusBytes = 256 << 10

func (s subjects) nodeStatus() string { return s.prefix + ".ns" }

// OnNodeStatus sets the receiver of the other nodes' status (nil: none).
func (c *Cluster) OnNodeStatus(f NodeStatusFunc) {
	if f == nil {
		c.onNodeStatus.Store(nil)
		return
	}
	c.onNodeStatus.Store(&f)
}

// PublishNodeStatus sends this node's status payload to the others. It
// fails at once with ErrNotConnected while NATS is unreachable.
func (c *Cluster) PublishNodeStatus(b []byte) error {
	if !c.connected.Load() {
		return ErrNotConnected
	}
	name := c.node.name
	msg := make([]byte, 0, binary.MaxVarintLen16+len(name)+len(b))
	msg = binary.AppendUvarint(msg, uint64(len(name)))
	msg = append(append(msg, name...), b...)
	if len(msg) > maxStatusBytes {
		return ErrTooLarge
	}
	if err := c.nc.Publish(c.subj.nodeStatus(), msg); err != nil {
		return fmt.Errorf("%w: %v", ErrNotConnected, err)
	}
	return nil
}

func (c *Cluster) subscribeNodeStatus() error {
	if _, err := c.nc.Subscribe(c.subj.nodeStatus(), c.onNodeStatusMsg); err != nil {
		return fmt.Errorf("cannot subscribe to node status: %w", err)
	}
	return nil
}

func (c *Cluster) onNodeStatusMsg(m *nats.Msg) {
	fp := c.onNodeStatus.Load()
	if fp == nil || len(m.Data) > maxStatusBytes {
		return
	}
	n, k := binary.Uvarint(m.Data)
	if k <= 0 || n == 0 || n > 256 || uint64(len(m.Data)-k) < n {
		return
	}
	name := string(m.Data[k : k+int(n)])
	if name == c.node.name {
		return // NATS echoes this node's own status back
	}
	(*fp)(name, append([]byte(nil), m.Data[k+int(n):]...))
}
