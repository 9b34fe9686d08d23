//go:build linux

package conformance

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// dialTCP opens a plain TCP connection; rcvbuf > 0 sets SO_RCVBUF before
// connect(2) (so the window is small from the start: a client that does
// not read then stops the server's writes early).
func dialTCP(t testing.TB, addr string, rcvbuf int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("cannot connect to %s: %v", addr, err)
	}
	return c.(*net.TCPConn)
}

// dialUpgraded opens a TCP connection (rcvbuf as for dialTCP) and runs the
// opening handshake by hand; it returns the connection and any bytes that
// followed the 101 head.
func dialUpgraded(t testing.TB, addr string, rcvbuf int) (*net.TCPConn, []byte) {
	t.Helper()
	c := dialTCP(t, addr, rcvbuf)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest(addr)); err != nil {
		t.Fatalf("cannot send the upgrade request: %v", err)
	}
	head, rest, err := readHead(c)
	if err != nil || !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("upgrade: %q, %v", head, err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, rest
}

// httpAnswer is what the server answered a handshake attempt.
type httpAnswer struct {
	status int
	head   string
	closed bool // EOF followed the response
}

// readAnswer reads one HTTP response head and then waits (at most d) for
// EOF: after an error status the server half-closes (docs/operations.md).
func readAnswer(c net.Conn, d time.Duration) (httpAnswer, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	head, rest, err := readHead(c)
	if err != nil {
		return httpAnswer{head: head}, fmt.Errorf("no response head (%q): %w", head, err)
	}
	if len(head) < 12 || !strings.HasPrefix(head, "HTTP/1.1 ") {
		return httpAnswer{head: head}, fmt.Errorf("not an HTTP/1.1 response: %q", head)
	}
	status, err := strconv.Atoi(head[9:12])
	if err != nil {
		return httpAnswer{head: head}, fmt.Errorf("bad status line %q", head)
	}
	a := httpAnswer{status: status, head: head}
	// Read the body (Content-Length) and then expect EOF.
	body := rest
	buf := make([]byte, 4096)
	for i := 0; i < 1000; i++ {
		n, err := c.Read(buf)
		body = append(body, buf[:n]...)
		if err == io.EOF {
			a.closed = true
			break
		}
		if err != nil {
			break
		}
	}
	if cl := headerValue(head, "Content-Length"); cl != "" {
		if n, _ := strconv.Atoi(cl); n != len(body) {
			return a, fmt.Errorf("body of %d bytes, Content-Length %s", len(body), cl)
		}
	}
	return a, nil
}

// headerValue returns the value of header name in an HTTP head.
func headerValue(head, name string) string {
	for _, line := range strings.Split(head, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// readUntilClose reads frames from c until the server's close frame,
// EOF, or d; it returns the close code (0: none) and how many frames of
// each opcode came before it. Payloads are discarded as they stream by.
func readUntilClose(c net.Conn, pending []byte, d time.Duration) (code int, counts map[byte]int, err error) {
	counts = map[byte]int{}
	_ = c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 256<<10)
	acc := append([]byte(nil), pending...)
	for {
		for len(acc) >= 2 {
			hl, n := 2, int(acc[1]&0x7F)
			if n == 126 {
				hl = 4
			} else if n == 127 {
				hl = 10
			}
			if len(acc) < hl {
				break
			}
			switch hl {
			case 4:
				n = int(acc[2])<<8 | int(acc[3])
			case 10:
				n = 0
				for _, b := range acc[2:10] {
					n = n<<8 | int(b)
				}
			}
			if len(acc) < hl+n {
				break
			}
			op := acc[0] & 0x0F
			if op == opClose {
				return int(closeCodeOf(acc[hl : hl+n])), counts, nil
			}
			counts[op]++
			acc = acc[hl+n:]
		}
		acc = append(acc[:0:0], acc...)
		m, rerr := c.Read(buf)
		acc = append(acc, buf[:m]...)
		if rerr != nil {
			if rerr == io.EOF && len(acc) > 0 {
				// RFC 6455 §5.2: the stream is a sequence of whole frames.
				return 0, counts, fmt.Errorf("stream ended inside a frame: %d bytes left, header %x (the server broke framing: data went out inside another frame)", len(acc), acc[:min(len(acc), 10)])
			}
			if rerr == io.EOF {
				return 0, counts, nil
			}
			return 0, counts, rerr
		}
	}
}

// echoOK upgrades a fresh connection and checks one echo: the server still
// serves.
func echoOK(t testing.TB, addr string) {
	t.Helper()
	cl, err := dial(addr)
	if err != nil {
		t.Fatalf("server no longer upgrades: %v", err)
	}
	defer cl.Close()
	if err := cl.write(wires(text("still there?"), closeCode(1000, "")), 0); err != nil {
		t.Fatal(err)
	}
	cl.waitUntil(10*time.Second, func(_ []event, ended bool) bool { return ended })
	evs, _ := cl.snapshot()
	if len(evs) != 2 || !bytes.Equal(evs[0].payload, []byte("still there?")) || evs[1].kind != opClose {
		t.Fatalf("server no longer echoes: %s", fmtEvents(evs))
	}
}

// mib formats bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
