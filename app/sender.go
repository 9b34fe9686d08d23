package app

import (
	"errors"

	"c1m/broadcast"
	"c1m/server"
	"c1m/wsproto"
)

// Sender adapts the engine to broadcast.Sender: the Hub's fan-out writes
// through the same per-connection queues as everything else, and the Hub,
// not the engine, decides what a slow consumer gets. It is a small value,
// safe for concurrent use.
type Sender struct{ Engine *server.Server }

// Send writes an immutable broadcast frame to c, by reference if it must
// wait in c's queue.
func (x Sender) Send(c broadcast.ConnID, frame []byte) error {
	err := x.Engine.Conn(c.FD, c.Gen).OfferFrame(frame)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, server.ErrSlowConsumer):
		return broadcast.ErrSlow
	}
	return broadcast.ErrGone
}

// CloseSlow closes c with 1013 "slow consumer".
func (x Sender) CloseSlow(c broadcast.ConnID) {
	x.Engine.Conn(c.FD, c.Gen).Close(wsproto.CloseTryAgainLater, "slow consumer")
}

// connID returns c's broadcast identity.
func connID(c server.Conn) broadcast.ConnID {
	return broadcast.ConnID{FD: int32(c.FD()), Gen: c.Gen()}
}
