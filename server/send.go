package server

import "c1m/broadcast"

// Sender adapts the Server to broadcast.Sender: the Hub's fan-out writes
// through the same per-connection queues as everything else, and the
// Hub, not the Server, decides what a slow consumer gets.
type Sender struct{ S *Server }

// Send writes an immutable broadcast frame to c, by reference if it must
// wait in c's queue.
func (x Sender) Send(c broadcast.ConnID, frame []byte) error {
	switch x.S.writeNoClose(c.FD, c.Gen, nil, frame, true, false) {
	case nil:
		return nil
	case ErrSlowConsumer:
		return broadcast.ErrSlow
	}
	return broadcast.ErrGone
}

// CloseSlow closes c with 1013 "slow consumer".
func (x Sender) CloseSlow(c broadcast.ConnID) {
	x.S.requestClose(c.FD, c.Gen, 1013, "slow consumer", reasonSlow)
}

// ConnID returns c's broadcast identity.
func (c Conn) ConnID() broadcast.ConnID { return broadcast.ConnID{FD: c.fd, Gen: c.gen} }
