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
	// Config.MaxPending; it is being closed with 1013.
	ErrSlowConsumer = errors.New("server: slow consumer")
)

// Conn is a handle to one connection: a small value, safe to copy, store and
// use from any goroutine. It names the fd and the slot's generation, so a
// handle that outlives its connection fails with ErrClosed instead of
// writing to whichever socket reuses the fd.
type Conn struct {
	s   *Server
	fd  int32
	gen uint32
}

// FD returns the connection's file descriptor, unique among open
// connections: a dense index for fd-indexed tables kept by handlers.
func (c Conn) FD() int { return int(c.fd) }

// ID returns a process-unique identifier: the fd and the slot generation.
func (c Conn) ID() uint64 { return uint64(c.fd)<<32 | uint64(c.gen) }

// WriteMessage frames payload as one message of type op and sends it. It
// never blocks: what the socket does not take at once is copied into the
// connection's queue and flushed by its loop. Safe for concurrent use; the
// caller may reuse payload when it returns.
func (c Conn) WriteMessage(op wsproto.OpCode, payload []byte) error {
	var hdr [wsproto.MaxHeaderSize]byte
	h := wsproto.AppendHeader(hdr[:0], true, op, len(payload))
	return c.s.write(c.fd, c.gen, h, payload, false, op.IsControl())
}

// WriteFrame sends an already framed, immutable frame (as built once by
// wsproto.AppendFrame for a broadcast). The frame is referenced, not copied,
// if it must wait in the queue: the caller must not modify it afterwards.
func (c Conn) WriteFrame(frame []byte) error {
	return c.s.write(c.fd, c.gen, nil, frame, true, false)
}

// Close starts the close handshake with code and reason (≤ 123 bytes) from
// any goroutine. It returns at once; the owning loop sends the frame.
func (c Conn) Close(code wsproto.StatusCode, reason string) {
	c.s.requestClose(c.fd, c.gen, code, reason, reasonHandler)
}

// replyBuf returns the owning loop's scratch buffer for building a reply,
// empty. Only for Handler methods (they run on that loop); the bytes are
// valid until the next replyBuf call on the loop.
func (c Conn) replyBuf() []byte {
	l := c.s.loops[c.s.table[c.fd].loop]
	return l.rbuf[:0]
}
