//go:build linux

package server

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// rawClient is a blocking client on a raw socket that sends exactly the
// bytes it is given and parses what comes back with wsproto in client
// mode. Its steady-state calls allocate nothing, so allocation tests can
// run it in the same process as the server.
type rawClient struct {
	t   testing.TB
	fd  int
	buf []byte
	rd  wsproto.Reader
	got recorder
}

// recorder is a wsproto.Sink that keeps the last events.
type recorder struct {
	msgs      int
	lastOp    wsproto.OpCode
	last      []byte
	pongs     int
	closeCode wsproto.StatusCode
	closeMsg  []byte
	closed    bool
}

func (r *recorder) OnMessage(op wsproto.OpCode, p []byte) error {
	r.msgs++
	r.lastOp = op
	r.last = append(r.last[:0], p...)
	return nil
}
func (r *recorder) OnPing(p []byte) error { return nil }
func (r *recorder) OnPong(p []byte) error { r.pongs++; return nil }
func (r *recorder) OnClose(c wsproto.StatusCode, reason []byte) error {
	r.closed, r.closeCode, r.closeMsg = true, c, append(r.closeMsg[:0], reason...)
	return nil
}

var clientCfg = wsproto.Config{Client: true, MaxMessage: 1 << 20}

const upgradeRequest = "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dialRaw connects to s without upgrading.
func dialRaw(t testing.TB, s *Server) *rawClient {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.Timeval{Sec: 5}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c := &rawClient{t: t, fd: fd, buf: make([]byte, 1<<17)}
	t.Cleanup(func() { c.close() })
	return c
}

// dialUpgraded connects and completes the upgrade.
func dialUpgraded(t testing.TB, s *Server) *rawClient {
	t.Helper()
	c := dialRaw(t, s)
	c.upgrade()
	return c
}

func (c *rawClient) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

func (c *rawClient) send(b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err != nil {
			c.t.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
}

// upgrade sends the request and reads the 101 head.
func (c *rawClient) upgrade() {
	c.send([]byte(upgradeRequest))
	status := c.readHTTP()
	if status != 101 {
		c.t.Fatalf("upgrade status %d, want 101", status)
	}
}

// readHTTP reads one HTTP response head and returns its status code.
func (c *rawClient) readHTTP() int {
	n := 0
	for {
		m, err := unix.Read(c.fd, c.buf[n:])
		if err != nil || m == 0 {
			c.t.Fatalf("read HTTP response: %d bytes so far (%q), err %v", n, c.buf[:n], err)
		}
		n += m
		if end := bytes.Index(c.buf[:n], []byte("\r\n\r\n")); end >= 0 {
			if n < 12 || !bytes.HasPrefix(c.buf[:n], []byte("HTTP/1.1 ")) {
				c.t.Fatalf("not an HTTP response: %q", c.buf[:n])
			}
			return int(c.buf[9]-'0')*100 + int(c.buf[10]-'0')*10 + int(c.buf[11]-'0')
		}
	}
}

var testKey = [4]byte{1, 2, 3, 4}

// sendFrame sends one masked client frame.
func (c *rawClient) sendFrame(fin bool, op wsproto.OpCode, payload []byte) {
	c.send(wsproto.AppendMaskedFrame(c.buf[:0], fin, op, payload, testKey))
}

// readEvent reads until one more message, pong or close arrives, or EOF.
// It returns false on EOF.
func (c *rawClient) readEvent() bool {
	before := c.got
	for c.got.msgs == before.msgs && c.got.pongs == before.pongs && !c.got.closed {
		n, err := unix.Read(c.fd, c.buf)
		if err != nil || n == 0 {
			return false
		}
		if err := c.rd.Feed(c.buf[:n], &clientCfg, &c.got); err != nil {
			c.t.Fatalf("client parser: %v", err)
		}
	}
	return true
}

// expectClose reads until the server's close frame and checks its code,
// then expects EOF (the server closes the TCP connection).
func (c *rawClient) expectClose(code wsproto.StatusCode) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !c.got.closed && time.Now().Before(deadline) {
		if !c.readEvent() {
			break
		}
	}
	if !c.got.closed {
		c.t.Fatalf("no close frame; want %d", code)
	}
	if c.got.closeCode != code {
		c.t.Fatalf("close code %d (%q), want %d", c.got.closeCode, c.got.closeMsg, code)
	}
	// After its close frame the server half-closes: read must see EOF.
	n, err := unix.Read(c.fd, c.buf)
	if n != 0 || err != nil {
		c.t.Fatalf("after close frame: read %d bytes, err %v; want EOF", n, err)
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
