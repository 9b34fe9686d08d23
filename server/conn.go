package server

import (
	"errors"

	"c1m/wsproto"
)

// Sentinel errors returned by Conn methods.
var (
	// ErrClosed: the connection is gone, closing, or the handle is stale
	// (its slot was recycled for a newer connection).
	ErrClosed = errors.New("server: connection closed")
	// ErrSlowConsumer: the connection's queued bytes passed
	// Config.MaxPending.
	ErrSlowConsumer = errors.New("server: slow consumer")
)

// Conn is a handle to one connection: a small value, safe to copy, store and
// use from any goroutine. It names the fd and the slot's generation, so a
// handle that outlives its connection fails with ErrClosed instead of
// writing to whichever socket reuses the fd. The zero Conn is invalid.
type Conn struct {
	s   *Server
	fd  int32
	gen uint32
}

// Conn returns the handle of connection (fd, gen), as FD and Gen of an
// earlier handle gave them (for example stored by a fan-out registry). A
// stale pair gives a handle whose methods fail with ErrClosed.
func (s *Server) Conn(fd int32, gen uint32) Conn { return Conn{s: s, fd: fd, gen: gen} }

// FD returns the connection's file descriptor, unique among open
// connections: a dense index (below Server.MaxFDs) for fd-indexed tables
// kept by handlers.
func (c Conn) FD() int { return int(c.fd) }

// Gen returns the generation of the connection's slot: FD and Gen together
// name the connection for as long as it lives, and never a later one.
func (c Conn) Gen() uint32 { return c.gen }

// ID returns a process-unique identifier: the fd and the slot generation.
func (c Conn) ID() uint64 { return uint64(c.fd)<<32 | uint64(c.gen) }

// WriteMessage frames payload as one message of type op and sends it. It
// never blocks: what the socket does not take at once is copied into the
// connection's queue and flushed by its loop. Past Config.MaxPending the
// connection is closed with 1013 and ErrSlowConsumer returned. Safe for
// concurrent use; the caller may reuse payload when it returns.
func (c Conn) WriteMessage(op wsproto.OpCode, payload []byte) error {
	var hdr [wsproto.MaxHeaderSize]byte
	h := wsproto.AppendHeader(hdr[:0], true, op, len(payload))
	return c.s.write(c.fd, c.gen, h, payload, false, op.IsControl())
}

// WriteFrame sends an already framed, immutable frame (as built once by
// wsproto.AppendFrame for a broadcast). The frame is referenced, not copied,
// if it must wait in the queue: the caller must not modify it afterwards.
// Past Config.MaxPending the connection is closed with 1013 and
// ErrSlowConsumer returned.
func (c Conn) WriteFrame(frame []byte) error {
	return c.s.write(c.fd, c.gen, nil, frame, true, false)
}

// OfferFrame is WriteFrame for callers with their own slow-consumer
// policy (the fan-out's close-or-drop): past Config.MaxPending it queues
// nothing, leaves the connection open and returns ErrSlowConsumer.
func (c Conn) OfferFrame(frame []byte) error {
	return c.s.writeNoClose(c.fd, c.gen, nil, frame, true, false)
}

// Close starts the close handshake with code and reason (≤ 123 bytes) from
// any goroutine. It returns at once; the owning loop sends the frame
// behind whatever is already queued for the connection. The close counts
// in c1m_connections_closed_total as reason "slow_consumer" for 1013
// (CloseTryAgainLater) and "handler" for any other code.
func (c Conn) Close(code wsproto.StatusCode, reason string) {
	why := reasonHandler
	if code == wsproto.CloseTryAgainLater {
		why = reasonSlow
	}
	c.s.requestClose(c.fd, c.gen, code, reason, why)
}

// Scratch returns the owning loop's scratch buffer for building a reply,
// empty. Only for Handler methods, which run on that loop; the bytes are
// valid until the next Scratch call on the loop, so pass them to
// WriteMessage (which copies what it queues) before building another.
func (c Conn) Scratch() []byte {
	l := c.s.loops[c.s.table[c.fd].loop]
	return l.rbuf[:0]
}

// Tag returns the handler's value for the connection (0 until SetTag).
// Only for Handler methods (they run on the owning loop).
func (c Conn) Tag() uint32 { return c.s.table[c.fd].tag }

// SetTag stores a handler's value with the connection, for example an
// index into a table of the handler's own; it costs the connection no
// memory (it fills the slot's padding) and is reset to 0 when the
// connection closes. Only for Handler methods (they run on the owning
// loop).
func (c Conn) SetTag(v uint32) { c.s.table[c.fd].tag = v }
