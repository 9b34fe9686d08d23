package server

import (
	"context"

	"c1m/wsproto"
)

// Handler receives a connection's life: open, messages, close.
//
// Concurrency: every method runs on the loop goroutine that owns the
// connection, so calls for one connection never overlap, and a method must
// not block: hand slow work to a worker pool. The payload passed to
// OnMessage is valid only until OnMessage returns (it points into the
// loop's read buffer); copy what must outlive the call.
type Handler interface {
	// OnOpen runs once the upgrade response has been written, with the
	// identity the handshake established (valid during the call only;
	// the zero Identity for an anonymous connection).
	OnOpen(c Conn, id *Identity)
	// OnMessage runs for every complete text or binary message. A non-nil
	// error closes the connection: a *wsproto.CloseError with its code
	// (for example ClosePolicyViolation, 1008), any other error with 1011.
	OnMessage(c Conn, op wsproto.OpCode, payload []byte) error
	// OnClose runs once when an open connection starts closing, with the
	// close code sent or received (1006 when the peer vanished).
	OnClose(c Conn, code wsproto.StatusCode)
}

// Drainer is implemented by a Handler that takes part in a graceful drain
// (Server.Shutdown).
type Drainer interface {
	// BeforeDrain runs once, on the goroutine that called Shutdown, after
	// the listeners are shut and before any connection is closed: the
	// application stops taking new work and finishes what it accepted,
	// returning by the time ctx (the drain timeout) ends.
	BeforeDrain(ctx context.Context)
	// OnDrain runs on the connection's loop just before the engine queues
	// its 1001 close frame: a message written here (a reconnect hint) goes
	// out behind what is already queued and ahead of the close frame.
	OnDrain(c Conn)
}

// Echo is the Handler that sends every message back unchanged, with the same
// opcode. It is what `c1m serve --handler=echo` runs, for conformance tests
// and the benchmark.
type Echo struct{}

// OnOpen does nothing.
func (Echo) OnOpen(Conn, *Identity) {}

// OnMessage writes the message back. A peer that does not read its echoes
// fills its queue and is closed as a slow consumer (1013).
func (Echo) OnMessage(c Conn, op wsproto.OpCode, payload []byte) error {
	return c.WriteMessage(op, payload)
}

// OnClose does nothing.
func (Echo) OnClose(Conn, wsproto.StatusCode) {}

// Discard is the Handler that drops every message: for idle and broadcast
// benchmarks where echoes would only add noise.
type Discard struct{}

// OnOpen does nothing.
func (Discard) OnOpen(Conn, *Identity) {}

// OnMessage drops the message.
func (Discard) OnMessage(Conn, wsproto.OpCode, []byte) error { return nil }

// OnClose does nothing.
func (Discard) OnClose(Conn, wsproto.StatusCode) {}
