//go:build linux

package main

// Helpers for the end-to-end tests (e2e_*_linux_test.go): they run the
// real c1m binary through package c1mtest (built once, `c1m serve` in a
// child process on free loopback ports, its /metrics and /proc entries),
// and talk WebSocket to it over raw net.Conns (a hand-written upgrade
// request and a minimal RFC 6455 frame codec), so that 15,000 client
// connections cost no goroutine and no bufio buffer each.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"c1m/cmd/c1m/c1mtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	c1mtest.Cleanup()
	os.Exit(code)
}

// serveArgs is the command line of `c1m serve` with metrics on maddr:
// no token check and no publish API listener, then args.
func serveArgs(maddr string, args ...string) []string {
	return append([]string{"serve", "--auth=none", "--api-addr=-", "--metrics-addr", maddr}, args...)
}

// startServe starts `c1m serve` with args on free ports (--addr and
// --metrics-addr are added), waits until /livez answers and kills the
// process when the test ends. It retries with other ports if a port was
// taken between FreeAddr and the bind.
func startServe(t testing.TB, args ...string) *c1mtest.Proc {
	t.Helper()
	return c1mtest.Serve(t, func(addr, maddr string) []string {
		return serveArgs(maddr, append([]string{"--addr", addr}, args...)...)
	})
}

// startServeWith starts `c1m serve` with exactly args (plus --metrics-addr)
// and env, expecting the WebSocket listener on addr.
func startServeWith(t testing.TB, addr string, args, env []string) *c1mtest.Proc {
	t.Helper()
	maddr := c1mtest.FreeAddr(t)
	p, err := c1mtest.Start(t, addr, maddr, serveArgs(maddr, args...), env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// --- WebSocket client over a raw net.Conn ---

// wsKey and wsAccept are the example nonce of RFC 6455 §1.3 and the
// Sec-WebSocket-Accept value it must produce.
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// upgradeRequest is the opening handshake for path on host.
func upgradeRequest(host, path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// wsConn is a client WebSocket connection: a net.Conn plus whatever bytes
// arrived behind the 101 response before the first frame read.
type wsConn struct {
	net.Conn
	rest []byte
	wmu  sync.Mutex // serializes writeFrame
}

func (c *wsConn) Read(b []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(b, c.rest)
		c.rest = c.rest[n:]
		if len(c.rest) == 0 {
			c.rest = nil
		}
		return n, nil
	}
	return c.Conn.Read(b)
}

// readHead reads an HTTP response head (up to 4 KiB) from c and returns it
// with any bytes that followed it.
func readHead(c net.Conn) (head string, rest []byte, err error) {
	var buf [4096]byte
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			if i+4 < n {
				rest = append([]byte(nil), buf[i+4:n]...)
			}
			return string(buf[:i+4]), rest, nil
		}
		if err != nil {
			return string(buf[:n]), nil, err
		}
	}
	return string(buf[:n]), nil, errors.New("response head larger than 4 KiB")
}

// dialWS opens a WebSocket connection to addr and path and checks the 101
// response, all within timeout.
func dialWS(addr, path string, timeout time.Duration) (*wsConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	wc, err := upgrade(c, addr, path, timeout)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return wc, nil
}

// upgrade runs the opening handshake on c.
func upgrade(c net.Conn, host, path string, timeout time.Duration) (*wsConn, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, upgradeRequest(host, path)); err != nil {
		return nil, fmt.Errorf("cannot send the upgrade request: %w", err)
	}
	head, rest, err := readHead(c)
	if err != nil {
		return nil, fmt.Errorf("cannot read the upgrade response (got %q): %w", head, err)
	}
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		return nil, fmt.Errorf("upgrade refused: %q", head)
	}
	if !strings.Contains(head, "\r\nSec-WebSocket-Accept: "+wsAccept+"\r\n") {
		return nil, fmt.Errorf("upgrade response without the right Sec-WebSocket-Accept: %q", head)
	}
	_ = c.SetDeadline(time.Time{})
	return &wsConn{Conn: c, rest: rest}, nil
}

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// writeFrame sends one final, masked frame (RFC 6455 §5.3: a client masks
// every frame). Payloads up to 64 KiB.
func (c *wsConn) writeFrame(op byte, payload []byte) error {
	if len(payload) > 0xFFFF {
		return errors.New("payload too large for this test client")
	}
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := make([]byte, 0, 8+len(payload))
	b = append(b, 0x80|op)
	if len(payload) < 126 {
		b = append(b, 0x80|byte(len(payload)))
	} else {
		b = append(b, 0x80|126, byte(len(payload)>>8), byte(len(payload)))
	}
	b = append(b, mask[:]...)
	for i, x := range payload {
		b = append(b, x^mask[i%4])
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.Write(b)
	return err
}

// readFrame reads one frame. Server frames are unmasked (RFC 6455 §5.1)
// and the tests never fragment, so FIN is not tracked.
func (c *wsConn) readFrame() (op byte, payload []byte, err error) {
	var h [8]byte
	if _, err := io.ReadFull(c, h[:2]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("server sent a masked frame")
	}
	op = h[0] & 0x0F
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(c, h[:2]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c, h[:8]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes is beyond this test client", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c, payload); err != nil {
		return 0, nil, err
	}
	return op, payload, nil
}

// closeFrame decodes a close frame's payload.
func closeFrame(payload []byte) (code int, reason string) {
	if len(payload) < 2 {
		return 1005, ""
	}
	return int(binary.BigEndian.Uint16(payload)), string(payload[2:])
}

// echo sends msg as a text message and waits up to timeout for the same
// text back, skipping (not answering) heartbeat pings.
func (c *wsConn) echo(msg string, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if err := c.writeFrame(opText, []byte(msg)); err != nil {
		return fmt.Errorf("cannot send: %w", err)
	}
	for i := 0; i < 100; i++ {
		op, p, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("cannot read the echo: %w", err)
		}
		switch op {
		case opPing, opPong:
			continue
		case opText:
			if string(p) != msg {
				return fmt.Errorf("echo: got %q, want %q", p, msg)
			}
			return nil
		case opClose:
			code, reason := closeFrame(p)
			return fmt.Errorf("closed by the server instead of an echo: %d %q", code, reason)
		default:
			return fmt.Errorf("unexpected opcode %#x", op)
		}
	}
	return errors.New("no echo among 100 frames")
}

// readClose reads frames until a close frame and returns its code and
// reason; pings are skipped without an answer.
func (c *wsConn) readClose(timeout time.Duration) (code int, reason string, err error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	for i := 0; i < 1000; i++ {
		op, p, err := c.readFrame()
		if err != nil {
			return 0, "", err
		}
		if op == opClose {
			code, reason := closeFrame(p)
			return code, reason, nil
		}
	}
	return 0, "", errors.New("no close frame among 1000 frames")
}
