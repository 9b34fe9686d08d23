package baseline

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// conn is one client connection. The reader goroutine (serve) owns br and
// hdr; the writer goroutine is the only one that writes to nc; out may be
// sent to by anyone, without blocking.
type conn struct {
	s        *Server
	nc       net.Conn
	br       *bufio.Reader
	out      chan *[]byte // immutable frames; nil wakes the writer to exit
	hdr      [ws.MaxHeaderSize - 2]byte
	upgraded atomic.Bool
	closed   atomic.Bool
}

// Frames every connection may be sent; compiled once.
var (
	goingAwayFrame   = ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "server shutting down")))
	protocolErrFrame = ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusProtocolError, "")))
	tooBigFrame      = ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusMessageTooBig, "")))
	emptyCloseFrame  = ws.MustCompileFrame(ws.NewCloseFrame(nil))
)

// errCloseSent ends the read loop after a close frame was queued: the
// writer closes the connection once it is out.
var errCloseSent = errors.New("baseline: close frame queued")

// serve runs the handshake, starts the writer and then reads until the
// connection ends. It is the connection's reader goroutine.
func (c *conn) serve() {
	defer c.s.wg.Done()
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	// Upgrade reads and writes through pooled bufio buffers and returns
	// them before it returns: nothing of the handshake stays per connection.
	if _, err := c.s.up.Upgrade(c.nc); err != nil {
		c.close()
		return
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.br = bufio.NewReaderSize(c.nc, ReadBufferSize)
	c.out = make(chan *[]byte, c.s.cfg.QueueLen)
	c.s.mu.Lock()
	if c.s.closing {
		c.s.mu.Unlock()
		c.close()
		return
	}
	c.upgraded.Store(true)
	c.s.open.Add(1)
	c.s.mu.Unlock()
	c.s.opened.Inc()
	c.s.wg.Add(1)
	go c.writeLoop()
	if err := c.readLoop(); !errors.Is(err, errCloseSent) {
		c.close()
	}
}

// readLoop reads frames until an error or a close frame. Control frames
// are answered through the queue so that only the writer writes.
func (c *conn) readLoop() error {
	var msgLen int64 // bytes of the message being read, across fragments
	for {
		h, err := ws.ReadHeaderBuffer(c.br, c.hdr[:])
		if err != nil {
			return err
		}
		// RFC 6455 §5.1: "The server MUST close the connection upon
		// receiving a frame that is not masked." §5.2: RSV bits MUST be 0
		// unless an extension is negotiated (none is).
		if !h.Masked || h.Rsv != 0 {
			return c.fail(&protocolErrFrame)
		}
		if h.OpCode.IsControl() {
			// §5.5: "All control frames MUST have a payload length of 125
			// bytes or less and MUST NOT be fragmented."
			if h.Length > 125 || !h.Fin {
				return c.fail(&protocolErrFrame)
			}
			if err := c.control(h); err != nil {
				return err
			}
			continue
		}
		if h.Length > MaxMessage-msgLen {
			return c.fail(&tooBigFrame)
		}
		msgLen += h.Length
		if h.Fin {
			msgLen = 0
		}
		// Data messages are discarded: the baseline, like c1m serve
		// --handler discard, only fans out what the API publishes.
		if _, err := c.br.Discard(int(h.Length)); err != nil {
			return err
		}
	}
}

// control reads a control frame's payload and answers it.
func (c *conn) control(h ws.Header) error {
	if h.OpCode == ws.OpPong {
		_, err := c.br.Discard(int(h.Length))
		return err
	}
	// A fresh frame per ping or close: the reply is handed to the writer,
	// and pings are rare enough that a per-connection buffer for them
	// would cost more than it saves.
	hs := 2 // a ≤125-byte payload needs the 2-byte header (§5.2)
	f := make([]byte, hs+int(h.Length))
	p := f[hs:]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return err
	}
	ws.Cipher(p, h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing:
		// §5.5.3: the Pong "MUST have identical Application data".
		f[0] = 0x80 | byte(ws.OpPong)
		f[1] = byte(len(p))
		if !c.enqueue(&f) {
			return errSlow(c)
		}
		return nil
	case ws.OpClose:
		// §5.5.1: the endpoint "MUST send a Close frame in response",
		// typically echoing the status code it received.
		reply := &emptyCloseFrame
		switch {
		case len(p) == 1:
			reply = &protocolErrFrame
		case len(p) >= 2:
			f[0] = 0x80 | byte(ws.OpClose)
			f[1] = 2
			f = f[:4]
			reply = &f
		}
		if !c.enqueue(reply) {
			return errSlow(c)
		}
		return errCloseSent
	default:
		return c.fail(&protocolErrFrame) // reserved opcode
	}
}

// fail queues a close frame for a protocol violation; the writer closes
// the connection after it.
func (c *conn) fail(frame *[]byte) error {
	if !c.enqueue(frame) {
		return errSlow(c)
	}
	return errCloseSent
}

// errSlow closes c as a slow consumer from its reader and returns the
// error that ends the read loop.
func errSlow(c *conn) error {
	c.closeSlow()
	return errCloseSent
}

// enqueue hands frame to the writer without blocking; false means the
// queue is full.
func (c *conn) enqueue(frame *[]byte) bool {
	select {
	case c.out <- frame:
		return true
	default:
		return false
	}
}

// writeLoop writes queued frames, one write(2) each, until a write fails,
// a close frame is out, or close wakes it with nil.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	for f := range c.out {
		if f == nil || c.closed.Load() {
			return
		}
		if _, err := c.nc.Write(*f); err != nil {
			c.close()
			return
		}
		if ws.OpCode((*f)[0]&0x0f) == ws.OpClose {
			c.close()
			return
		}
	}
}

// closeSlow closes c because its queue is full, counting it and logging
// the first one (nats-server's slow-consumer policy).
func (c *conn) closeSlow() {
	if !c.close() {
		return
	}
	c.s.slow.Inc()
	if c.s.slowLogged.CompareAndSwap(false, true) {
		c.s.log.Warn("slow consumer closed (logged once)", "remote", c.nc.RemoteAddr().String(), "queue", c.s.cfg.QueueLen)
	}
}

// close closes the TCP connection, forgets c and wakes the writer. It runs
// once; it reports whether this call did it.
func (c *conn) close() bool {
	if !c.closed.CompareAndSwap(false, true) {
		return false
	}
	c.nc.Close()
	up := c.upgraded.Load()
	c.s.remove(c, up)
	if up {
		// The queue is never closed (publishers may still send to it);
		// nil wakes an idle writer. If the queue is full the writer is
		// busy and its next write fails on the closed socket.
		c.enqueue(nil)
	}
	return true
}
