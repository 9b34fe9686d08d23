//go:build linux

package conformance

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The client is written from RFC 6455 for this suite, sharing no code with
// wsproto (the package under test): its frame parser is the judge of what
// the server sends.

// wsKey and wsAccept are the nonce of RFC 6455 §1.3 and the
// Sec-WebSocket-Accept it must produce.
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func upgradeRequest(host string) string {
	return "GET /ws HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// event is something the server sent: a complete message (fragments
// reassembled), a control frame, or the end of the stream.
type event struct {
	kind    byte // opText, opBinary, opPing, opPong, opClose; 0 for EOF
	payload []byte
}

func (e event) String() string {
	name := map[byte]string{0: "EOF", opText: "text", opBinary: "binary", opPing: "ping", opPong: "pong", opClose: "close"}[e.kind]
	if e.kind == opClose && len(e.payload) >= 2 {
		return fmt.Sprintf("close %d %q", binary.BigEndian.Uint16(e.payload), e.payload[2:])
	}
	p := e.payload
	if len(p) > 24 {
		return fmt.Sprintf("%s(%d bytes %q…)", name, len(p), p[:24])
	}
	return fmt.Sprintf("%s(%q)", name, p)
}

// client is one upgraded connection. A goroutine reads and parses
// everything the server sends, with no bound on what it keeps (cases are
// bounded), so that the server never sees the client as slow.
type client struct {
	conn *net.TCPConn

	mu      sync.Mutex
	events  []event
	ended   bool  // EOF, reset or a parse error: nothing more will come
	readErr error // the read error other than EOF, if any
	protErr error // the server broke RFC 6455 (masked frame, ...)
	notify  chan struct{}
}

// dial connects to addr and upgrades. TCP_NODELAY is on (Go's default for
// TCP), so every Write leaves as its own segment.
func dial(addr string) (*client, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot connect: %w", err)
	}
	conn := nc.(*net.TCPConn)
	_ = conn.SetNoDelay(true)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, upgradeRequest(addr)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot send the upgrade request: %w", err)
	}
	head, rest, err := readHead(conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot read the upgrade response (%q): %w", head, err)
	}
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "\r\nSec-WebSocket-Accept: "+wsAccept+"\r\n") {
		conn.Close()
		return nil, fmt.Errorf("upgrade refused: %q", head)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &client{conn: conn, notify: make(chan struct{}, 1)}
	go c.readLoop(rest)
	return c, nil
}

// readHead reads an HTTP response head (at most 8 KiB) and returns it with
// the bytes that followed it.
func readHead(r io.Reader) (head string, rest []byte, err error) {
	buf := make([]byte, 8<<10)
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			return string(buf[:i+4]), append([]byte(nil), buf[i+4:n]...), nil
		}
		if err != nil {
			return string(buf[:n]), nil, err
		}
	}
	return string(buf[:n]), nil, errors.New("response head over 8 KiB")
}

func (c *client) Close() { _ = c.conn.Close() }

// write sends b in pieces of chop bytes (all at once when chop <= 0), one
// write(2) each.
func (c *client) write(b []byte, chop int) error {
	if chop <= 0 {
		chop = len(b)
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := c.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// maxEventPayload bounds a message the client reassembles.
const maxEventPayload = 64 << 20

// readLoop parses the server's frames (RFC 6455 §5.2) into events. Any
// rule a server breaks stops it with protErr.
func (c *client) readLoop(pending []byte) {
	buf := make([]byte, 256<<10)
	var (
		msgOp   byte
		msg     []byte
		closed  bool
		scratch = pending
	)
	fail := func(format string, args ...any) {
		c.mu.Lock()
		c.protErr = fmt.Errorf(format, args...)
		c.ended = true
		c.mu.Unlock()
		c.wake()
	}
	for {
		// Parse every complete frame in scratch.
		for {
			if len(scratch) < 2 {
				break
			}
			b0, b1 := scratch[0], scratch[1]
			hl, n := 2, uint64(b1&0x7F)
			switch n {
			case 126:
				hl = 4
			case 127:
				hl = 10
			}
			if len(scratch) < hl {
				break
			}
			switch hl {
			case 4:
				n = uint64(binary.BigEndian.Uint16(scratch[2:]))
			case 10:
				n = binary.BigEndian.Uint64(scratch[2:])
			}
			// RFC 6455 §5.1: "A server MUST NOT mask any frames that it
			// sends to the client."
			if b1&0x80 != 0 {
				fail("server sent a masked frame")
				return
			}
			if b0&0x70 != 0 {
				fail("server set reserved bits %#x", b0&0x70)
				return
			}
			if n > maxEventPayload {
				fail("server frame of %d bytes", n)
				return
			}
			if uint64(len(scratch)-hl) < n {
				break
			}
			fin, op, p := b0&0x80 != 0, b0&0x0F, scratch[hl:hl+int(n)]
			scratch = scratch[hl+int(n):]
			if closed {
				// RFC 6455 §5.5.1: "After sending a Close frame, the
				// endpoint MUST NOT send any further data frames."
				fail("server sent opcode %#x after its close frame", op)
				return
			}
			switch op {
			case opPing, opPong, opClose:
				// RFC 6455 §5.5: "All control frames MUST have a payload
				// length of 125 bytes or less and MUST NOT be fragmented."
				if !fin || n > 125 {
					fail("server sent a fragmented or oversized control frame")
					return
				}
				if op == opClose {
					if err := checkServerClose(p); err != nil {
						fail("%v", err)
						return
					}
					closed = true
				}
				c.push(event{kind: op, payload: append([]byte(nil), p...)})
			case opText, opBinary:
				if msgOp != 0 {
					fail("server started a message inside another")
					return
				}
				msgOp, msg = op, append(msg[:0], p...)
			case opCont:
				if msgOp == 0 {
					fail("server sent a continuation with no message")
					return
				}
				msg = append(msg, p...)
				if len(msg) > maxEventPayload {
					fail("server message over %d bytes", maxEventPayload)
					return
				}
			default:
				fail("server sent reserved opcode %#x", op)
				return
			}
			if fin && (op == opText || op == opBinary || op == opCont) {
				// RFC 6455 §8.1: text is UTF-8.
				if msgOp == opText && !utf8.Valid(msg) {
					fail("server sent a text message that is not UTF-8")
					return
				}
				c.push(event{kind: msgOp, payload: append([]byte(nil), msg...)})
				msgOp, msg = 0, msg[:0]
			}
		}
		scratch = append([]byte(nil), scratch...)
		n, err := c.conn.Read(buf)
		scratch = append(scratch, buf[:n]...)
		if err != nil && n == 0 {
			c.mu.Lock()
			if !errors.Is(err, io.EOF) {
				c.readErr = err
			}
			c.ended = true
			c.mu.Unlock()
			c.wake()
			return
		}
	}
}

// checkServerClose checks a close payload the server sent (RFC 6455 §5.5.1,
// §7.4): empty, or a code it may send and a UTF-8 reason.
func checkServerClose(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return errors.New("server close frame with a 1-byte payload")
	}
	code := binary.BigEndian.Uint16(p)
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
	default:
		return fmt.Errorf("server sent close code %d, which §7.4 does not allow on the wire", code)
	}
	if !utf8.Valid(p[2:]) {
		return errors.New("server close reason is not UTF-8")
	}
	return nil
}

func (c *client) push(e event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
	c.wake()
}

func (c *client) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// snapshot returns the events so far and whether the stream ended.
func (c *client) snapshot() (evs []event, ended bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event(nil), c.events...), c.ended
}

// waitUntil waits until cond holds over the events (or the stream ended),
// at most d. It reports whether cond held.
func (c *client) waitUntil(d time.Duration, cond func(evs []event, ended bool) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		evs, ended := c.snapshot()
		if cond(evs, ended) {
			return true
		}
		if ended {
			return false
		}
		select {
		case <-c.notify:
		case <-timer.C:
			evs, ended := c.snapshot()
			return cond(evs, ended)
		}
	}
}

// hasClose reports whether evs holds a close frame.
func hasClose(evs []event) bool {
	for _, e := range evs {
		if e.kind == opClose {
			return true
		}
	}
	return false
}
