//go:build linux

package c1mtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// WSKey and WSAccept are the example nonce of RFC 6455 §1.3 and the
// Sec-WebSocket-Accept value it must produce.
const (
	WSKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	WSAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// MaskKey is the masking key of every frame a RawClient sends.
var MaskKey = [4]byte{1, 2, 3, 4}

// clientCfg parses what a server sends: unmasked frames, messages up to
// 1 MiB.
var clientCfg = wsproto.Config{Client: true, MaxMessage: 1 << 20}

// UpgradeRequest is the opening handshake for path (with its query) on
// host, with extra header lines ("Name: value") appended.
func UpgradeRequest(host, path string, headers ...string) string {
	var b bytes.Buffer
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + WSKey +
		"\r\nSec-WebSocket-Version: 13\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// Event is one thing a server sent: a data message (fragments
// reassembled), a ping, a pong, or a close frame.
type Event struct {
	Op     wsproto.OpCode
	Data   []byte             // the message or control payload (a copy)
	Code   wsproto.StatusCode // for a close
	Reason string             // for a close
}

// Counts are what a RawClient has received so far, kept without
// allocating in steady state (for allocation tests): how many messages,
// pings and pongs, the last message, and the close frame.
type Counts struct {
	Msgs, Pings, Pongs int
	LastOp             wsproto.OpCode
	Last               []byte // the last message; reused
	Closed             bool
	CloseCode          wsproto.StatusCode
	CloseReason        []byte // reused
}

// DialOptions tune a RawClient.
type DialOptions struct {
	// RcvBuf sets SO_RCVBUF before connect (so the TCP window is small
	// from the start); 0 keeps the default.
	RcvBuf int
	// CountOnly keeps only Counts, no event queue: Next is then unusable
	// and reading allocates nothing.
	CountOnly bool
	// ReadTimeout bounds every blocking read (SO_RCVTIMEO); 0 means 10 s.
	ReadTimeout time.Duration
}

// RawClient is a blocking WebSocket client on a raw socket: it sends
// exactly the bytes it is given (masked frames by default) and parses
// what comes back with wsproto in client mode. It is the one client the
// end-to-end tests share; the conformance suite keeps its own independent
// parser as a judge.
//
// Concurrency: one goroutine reads (ReadHTTP, Next, ReadEvent and the
// helpers built on them) while any goroutine may send.
type RawClient struct {
	fd   int
	host string
	buf  []byte
	rd   wsproto.Reader
	got  Counts
	keep bool
	q    []Event

	wmu  sync.Mutex // serializes writes and guards wbuf
	wbuf []byte
}

// ErrNotUpgraded: the server answered the handshake with another status.
var ErrNotUpgraded = errors.New("c1mtest: upgrade refused")

// Dial opens a TCP connection to addr (host:port, IPv4 or [IPv6]) without
// upgrading.
func Dial(addr string, o DialOptions) (*RawClient, error) {
	ap, err := netipAddrPort(addr)
	if err != nil {
		return nil, err
	}
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ap.ip.To4() != nil {
		s4 := &unix.SockaddrInet4{Port: ap.port}
		copy(s4.Addr[:], ap.ip.To4())
		sa = s4
	} else {
		family = unix.AF_INET6
		s6 := &unix.SockaddrInet6{Port: ap.port}
		copy(s6.Addr[:], ap.ip.To16())
		sa = s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open a socket: %w", err)
	}
	if o.RcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RcvBuf); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("cannot set SO_RCVBUF: %w", err)
		}
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c := &RawClient{fd: fd, host: addr, buf: make([]byte, 1<<17), keep: !o.CountOnly}
	d := o.ReadTimeout
	if d == 0 {
		d = 10 * time.Second
	}
	c.SetReadTimeout(d)
	return c, nil
}

// DialWS dials addr and upgrades on path, with extra header lines; the
// server must answer 101 with the right Sec-WebSocket-Accept.
func DialWS(addr, path string, o DialOptions, headers ...string) (*RawClient, error) {
	c, err := Dial(addr, o)
	if err != nil {
		return nil, err
	}
	if _, head, err := c.Upgrade(path, headers...); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %q", err, head)
	}
	return c, nil
}

type addrPort struct {
	ip   net.IP
	port int
}

func netipAddrPort(addr string) (addrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addrPort{}, fmt.Errorf("cannot parse address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return addrPort{}, fmt.Errorf("cannot parse address %q: want an IP literal and a port", addr)
	}
	return addrPort{ip: ip, port: p}, nil
}

// FD returns the socket, for tests that shape what goes over it.
func (c *RawClient) FD() int { return c.fd }

// Counts returns what has been received so far.
func (c *RawClient) Counts() *Counts { return &c.got }

// SetReadTimeout bounds every later blocking read.
func (c *RawClient) SetReadTimeout(d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	_ = unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// Close closes the socket (idempotent).
func (c *RawClient) Close() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

// Send writes b whole.
func (c *RawClient) Send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendLocked(b)
}

func (c *RawClient) sendLocked(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

// SendFrame sends one masked frame (RFC 6455 §5.3: a client masks every
// frame).
func (c *RawClient) SendFrame(fin bool, op wsproto.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wsproto.AppendMaskedFrame(c.wbuf[:0], fin, op, payload, MaskKey)
	return c.sendLocked(c.wbuf)
}

// SendText sends every message as a masked text frame, all in one write.
func (c *RawClient) SendText(msgs ...string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, m := range msgs {
		c.wbuf = wsproto.AppendMaskedFrame(c.wbuf, true, wsproto.OpText, []byte(m), MaskKey)
	}
	return c.sendLocked(c.wbuf)
}

// SendClose sends a close frame with code (and no reason).
func (c *RawClient) SendClose(code wsproto.StatusCode) error {
	return c.SendFrame(true, wsproto.OpClose, []byte{byte(code >> 8), byte(code)})
}

// Upgrade sends the opening handshake for path and reads the response
// head; bytes behind it go to the frame parser. It returns the status and
// the head; err is ErrNotUpgraded (wrapped) unless the status is 101 with
// the right Sec-WebSocket-Accept.
func (c *RawClient) Upgrade(path string, headers ...string) (status int, head string, err error) {
	if err := c.Send([]byte(UpgradeRequest(c.host, path, headers...))); err != nil {
		return 0, "", err
	}
	status, head, err = c.ReadHTTP()
	if err != nil {
		return status, head, err
	}
	if status != 101 || !bytes.Contains([]byte(head), []byte("\r\nSec-WebSocket-Accept: "+WSAccept+"\r\n")) {
		return status, head, fmt.Errorf("%w: status %d", ErrNotUpgraded, status)
	}
	return status, head, nil
}

// ReadHTTP reads one HTTP response head and returns its status code and
// the head; the bytes after it are fed to the frame parser.
func (c *RawClient) ReadHTTP() (status int, head string, err error) {
	n := 0
	for {
		if n == len(c.buf) {
			return 0, string(c.buf[:n]), errors.New("c1mtest: response head too large")
		}
		m, err := unix.Read(c.fd, c.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			if err == nil {
				err = io.EOF
			}
			return 0, string(c.buf[:n]), fmt.Errorf("cannot read the HTTP response (%d bytes so far): %w", n, err)
		}
		n += m
		end := bytes.Index(c.buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		head = string(c.buf[:end+4])
		if n < 12 || !bytes.HasPrefix(c.buf[:n], []byte("HTTP/1.1 ")) {
			return 0, head, fmt.Errorf("c1mtest: not an HTTP response: %q", head)
		}
		status = int(c.buf[9]-'0')*100 + int(c.buf[10]-'0')*10 + int(c.buf[11]-'0')
		if rest := c.buf[end+4 : n]; len(rest) > 0 {
			if err := c.rd.Feed(rest, &clientCfg, (*sink)(c)); err != nil {
				return status, head, fmt.Errorf("c1mtest: bad frames after the head: %w", err)
			}
		}
		return status, head, nil
	}
}

// readMore does one read and feeds it to the parser; io.EOF at the end of
// the stream.
func (c *RawClient) readMore() error {
	for {
		n, err := unix.Read(c.fd, c.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read: %w", err)
		}
		if n == 0 {
			return io.EOF
		}
		if err := c.rd.Feed(c.buf[:n], &clientCfg, (*sink)(c)); err != nil {
			return fmt.Errorf("c1mtest: the server sent bad frames: %w", err)
		}
		return nil
	}
}

// ReadEvent reads until one more message, ping, pong or close has been
// counted. It allocates nothing in steady state.
func (c *RawClient) ReadEvent() error {
	before := c.got
	for c.got.Msgs == before.Msgs && c.got.Pings == before.Pings && c.got.Pongs == before.Pongs && c.got.Closed == before.Closed {
		if err := c.readMore(); err != nil {
			return err
		}
	}
	return nil
}

// Next returns the next event in order; io.EOF (wrapped) when the stream
// ended first. Not available with DialOptions.CountOnly.
func (c *RawClient) Next() (Event, error) {
	if !c.keep {
		return Event{}, errors.New("c1mtest: Next on a CountOnly client")
	}
	for len(c.q) == 0 {
		if err := c.readMore(); err != nil {
			return Event{}, err
		}
	}
	e := c.q[0]
	c.q = c.q[1:]
	return e, nil
}

// NextMessage returns the next data message, skipping pings and pongs; a
// close frame is an error naming its code.
func (c *RawClient) NextMessage() ([]byte, error) {
	for {
		e, err := c.Next()
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case wsproto.OpPing, wsproto.OpPong:
			continue
		case wsproto.OpClose:
			return nil, &CloseError{Code: e.Code, Reason: e.Reason}
		}
		return e.Data, nil
	}
}

// CloseError is the close frame a reader met instead of a message.
type CloseError struct {
	Code   wsproto.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("closed by the server: %d %q", e.Code, e.Reason)
}

// Echo sends msg as a text message and waits for the same text back,
// skipping heartbeat pings.
func (c *RawClient) Echo(msg string) error {
	if err := c.SendFrame(true, wsproto.OpText, []byte(msg)); err != nil {
		return err
	}
	got, err := c.NextMessage()
	if err != nil {
		return fmt.Errorf("cannot read the echo: %w", err)
	}
	if string(got) != msg {
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	}
	return nil
}

// ReadClose reads until a close frame and returns its code and reason;
// messages, pings and pongs before it are skipped.
func (c *RawClient) ReadClose() (wsproto.StatusCode, string, error) {
	for {
		e, err := c.Next()
		if err != nil {
			return 0, "", err
		}
		if e.Op == wsproto.OpClose {
			return e.Code, e.Reason, nil
		}
	}
}

// ExpectClose reads until the server's close frame, checks its code, and
// then expects EOF (after its close frame the server shuts its side).
// It allocates nothing when the client is CountOnly.
func (c *RawClient) ExpectClose(code wsproto.StatusCode) error {
	for !c.got.Closed {
		if err := c.readMore(); err != nil {
			return fmt.Errorf("no close frame (want %d): %w", code, err)
		}
	}
	if c.got.CloseCode != code {
		return fmt.Errorf("close code %d (%q), want %d", c.got.CloseCode, c.got.CloseReason, code)
	}
	n, err := unix.Read(c.fd, c.buf)
	if n != 0 || err != nil {
		return fmt.Errorf("after the close frame: read %d bytes, err %v; want EOF", n, err)
	}
	return nil
}

// sink receives parsed frames for a RawClient.
type sink RawClient

func (s *sink) push(e Event) {
	if s.keep {
		s.q = append(s.q, e)
	}
}

func (s *sink) OnMessage(op wsproto.OpCode, p []byte) error {
	s.got.Msgs++
	s.got.LastOp = op
	s.got.Last = append(s.got.Last[:0], p...)
	if s.keep {
		s.push(Event{Op: op, Data: append([]byte(nil), p...)})
	}
	return nil
}

func (s *sink) OnPing(p []byte) error {
	s.got.Pings++
	if s.keep {
		s.push(Event{Op: wsproto.OpPing, Data: append([]byte(nil), p...)})
	}
	return nil
}

func (s *sink) OnPong(p []byte) error {
	s.got.Pongs++
	if s.keep {
		s.push(Event{Op: wsproto.OpPong, Data: append([]byte(nil), p...)})
	}
	return nil
}

func (s *sink) OnClose(code wsproto.StatusCode, reason []byte) error {
	s.got.Closed, s.got.CloseCode = true, code
	s.got.CloseReason = append(s.got.CloseReason[:0], reason...)
	if s.keep {
		s.push(Event{Op: wsproto.OpClose, Code: code, Reason: string(reason)})
	}
	return nil
}
