//go:build linux

package main

// Helpers for the end-to-end tests (e2e_*_linux_test.go): they build the
// real c1m binary once, run `c1m serve` in a child process on free loopback
// ports, scrape its /metrics, count its descriptors in /proc, and talk
// WebSocket to it over raw net.Conns (a hand-written upgrade request and a
// minimal RFC 6455 frame codec), so that 15,000 client connections cost no
// goroutine and no bufio buffer each.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	e2eBinOnce sync.Once
	e2eBinDir  string
	e2eBin     string
	e2eBinErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBinDir != "" {
		_ = os.RemoveAll(e2eBinDir)
	}
	os.Exit(code)
}

// c1mBinary builds the c1m binary from this package once per test run and
// returns its path.
func c1mBinary(t testing.TB) string {
	t.Helper()
	e2eBinOnce.Do(func() {
		e2eBinDir, e2eBinErr = os.MkdirTemp("", "c1m-e2e-")
		if e2eBinErr != nil {
			return
		}
		e2eBin = filepath.Join(e2eBinDir, "c1m")
		goTool, err := exec.LookPath("go")
		if err != nil {
			e2eBinErr = fmt.Errorf("cannot find the go tool: %w", err)
			return
		}
		// go test runs in the package directory, so "." is cmd/c1m.
		out, err := exec.Command(goTool, "build", "-o", e2eBin, ".").CombinedOutput()
		if err != nil {
			e2eBinErr = fmt.Errorf("cannot build c1m: %w\n%s", err, out)
		}
	})
	if e2eBinErr != nil {
		t.Fatal(e2eBinErr)
	}
	return e2eBin
}

// e2eEnv is the test process environment without any C1M_* variable, plus
// extra, so that a developer's shell cannot change what a test runs.
func e2eEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "C1M_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// freeAddr returns 127.0.0.1:<port> for a port that was free a moment ago.
// Another process may take it before the server binds it; startServe
// retries for that case.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("cannot find a free port: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// syncBuf is an io.Writer safe for concurrent use that keeps the last
// limit bytes written to it (the child's stderr).
type syncBuf struct {
	mu    sync.Mutex
	b     []byte
	limit int
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	if len(b.b) > b.limit {
		b.b = append(b.b[:0], b.b[len(b.b)-b.limit:]...)
	}
	return len(p), nil
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}

// serveProc is a running `c1m serve` child process.
type serveProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	addr    string // WebSocket listener, host:port
	metrics string // metrics listener, host:port
	stderr  *syncBuf
	done    chan struct{} // closed when the process has exited
	http    *http.Client
}

// startServe starts `c1m serve` with args on free ports (--addr and
// --metrics-addr are added), waits until /livez answers and kills the
// process when the test ends. It retries with other ports if a port was
// taken between freeAddr and the bind.
func startServe(t testing.TB, args ...string) *serveProc {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, maddr := freeAddr(t), freeAddr(t)
		p, err := tryServe(t, addr, maddr, append([]string{"--addr", addr}, args...), nil)
		if err == nil {
			return p
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

// startServeWith starts `c1m serve` with exactly args (plus --metrics-addr)
// and env, expecting the WebSocket listener on addr.
func startServeWith(t testing.TB, addr string, args, env []string) *serveProc {
	t.Helper()
	p, err := tryServe(t, addr, freeAddr(t), args, env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tryServe(t testing.TB, addr, maddr string, args, env []string) (*serveProc, error) {
	bin := c1mBinary(t)
	args = append([]string{"serve", "--auth=none", "--api-addr=-", "--metrics-addr", maddr}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = e2eEnv(env...)
	p := &serveProc{
		t: t, cmd: cmd, addr: addr, metrics: maddr,
		stderr: &syncBuf{limit: 1 << 20},
		done:   make(chan struct{}),
		// No keep-alive: every scrape opens and closes its own connection,
		// so the server holds no idle HTTP connection (fd, goroutine)
		// between two measurements.
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start c1m serve: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("c1m %s output:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.exited() {
			return nil, fmt.Errorf("c1m serve exited with status %d before /livez answered:\n%s", cmd.ProcessState.ExitCode(), p.stderr.String())
		}
		if code, _, err := p.get("/livez"); err == nil && code == http.StatusOK {
			return p, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("c1m serve: /livez did not answer 200 within 15s:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *serveProc) pid() int { return p.cmd.Process.Pid }

func (p *serveProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the server process.
func (p *serveProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("cannot send %v: %v", sig, err)
	}
}

// waitExit waits up to d for the process to exit and returns its exit
// status; it fails the test if the process is still running after d.
func (p *serveProc) waitExit(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("c1m serve still running %v after it was asked to stop", d)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		p.t.Fatalf("c1m serve was killed by %v, want a clean exit", ws.Signal())
	}
	return p.cmd.ProcessState.ExitCode()
}

// get fetches path from the metrics listener.
func (p *serveProc) get(path string) (int, string, error) {
	resp, err := p.http.Get("http://" + p.metrics + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// readyz returns /readyz's status code.
func (p *serveProc) readyz() int {
	p.t.Helper()
	code, _, err := p.get("/readyz")
	if err != nil {
		p.t.Fatalf("cannot GET /readyz: %v", err)
	}
	return code
}

// scrape returns every series of /metrics as series → value, where a
// series is the name with its labels as written (`c1m_x{reason="y"}`).
func (p *serveProc) scrape() map[string]float64 {
	p.t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != http.StatusOK {
		p.t.Fatalf("cannot scrape /metrics: status %d, %v", code, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			p.t.Fatalf("cannot parse metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// metric returns the value of one series; it fails the test if the server
// does not export it.
func (p *serveProc) metric(series string) float64 {
	p.t.Helper()
	v, ok := p.scrape()[series]
	if !ok {
		p.t.Fatalf("/metrics has no series %s", series)
	}
	return v
}

// goroutines returns the server's go_goroutines.
func (p *serveProc) goroutines() int { return int(p.metric("go_goroutines")) }

// fdCount counts the server's open descriptors in /proc/PID/fd.
func (p *serveProc) fdCount() int {
	p.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid()))
	if err != nil {
		p.t.Fatalf("cannot list the server's descriptors: %v", err)
	}
	return len(ents)
}

// eventually polls cond every 20 ms until it holds or d passes, then fails
// the test with what(): a description of the last state seen.
func eventually(t testing.TB, d time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", d, what())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
