//go:build linux

package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// testApp is an App running in-process: the Server it is attached to and
// its publish API, all on ephemeral loopback ports.
type testApp struct {
	app *App
	s   *Server
	api *API
	key string // the API key, sent by publish
}

// startApp starts an App on a Server with its API, all stopped when the
// test ends. Zero fields of cfg and acfg take the test defaults of
// startServer and a loopback API without a key.
func startApp(t testing.TB, acfg AppConfig, cfg Config, apiCfg APIConfig) *testApp {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = "-"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if apiCfg.Addr == "" {
		apiCfg.Addr = "127.0.0.1:0"
	}
	app, err := NewApp(acfg)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	cfg.Handler = app
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := app.Attach(s); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	api, err := StartAPI(apiCfg, app, s)
	if err != nil {
		t.Fatalf("StartAPI: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = api.Shutdown(ctx)
		if !s.draining.Load() {
			_ = s.Shutdown(ctx)
		}
		app.Close()
	})
	return &testApp{app: app, s: s, api: api, key: apiCfg.Key}
}

// dial connects an anonymous client as user (none when "").
func (ta *testApp) dial(t testing.TB, user string) *websocket.Conn {
	t.Helper()
	u := wsURL(ta.s)
	if user != "" {
		u += "?user=" + url.QueryEscape(user)
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (resp %v)", u, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// apiURL returns the API's URL for path.
func (ta *testApp) apiURL(path string) string { return "http://" + ta.api.Addr() + path }

// apiDo sends one API request with an optional bearer key and returns the
// status and the decoded JSON body.
func (ta *testApp) apiDo(t testing.TB, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ta.apiURL(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: status %d, body %q is not a JSON object: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, m
}

// publish posts body to /v1/publish and fails unless it is 202.
func (ta *testApp) publish(t testing.TB, body string) uint64 {
	t.Helper()
	code, m := ta.apiDo(t, "POST", "/v1/publish", ta.key, body)
	if code != http.StatusAccepted {
		t.Fatalf("publish %s: status %d %v, want 202", body, code, m)
	}
	return uint64(m["seq"].(float64))
}

// metric returns the value of the metric line named exactly name (labels
// included, as in `c1m_auth_failures_total{reason="expired"}`).
func metric(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	var buf bytes.Buffer
	s.WriteMetrics(&buf)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, " ")
		if !ok || k != name {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("metric %s: bad value %q", name, v)
		}
		return f
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// frame is a decoded server frame of the JSON protocol.
type frame struct {
	Type    string          `json:"type"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Room    *string         `json:"room"`
	To      *string         `json:"to"`
	All     bool            `json:"all"`
	From    string          `json:"from"`
	Seq     uint64          `json:"seq"`
	Data    json.RawMessage `json:"data"`
	Count   *int            `json:"count"`
	FromSeq uint64          `json:"from_seq"`
	ToSeq   uint64          `json:"to_seq"`
	Missed  uint64          `json:"missed"`
	Joined  []string        `json:"joined"`
	Left    []string        `json:"left"`
	ID      json.RawMessage `json:"id"`
}

// readFrame reads one text frame as JSON, failing after 10 s.
func readFrame(t testing.TB, c *websocket.Conn) frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	op, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if op != websocket.TextMessage {
		t.Fatalf("read: opcode %d, want text", op)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("read: %q is not JSON: %v", b, err)
	}
	return f
}

// send writes one text frame.
func send(t testing.TB, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write %s: %v", msg, err)
	}
}

// expectError reads one frame and checks that it is an error with code.
func expectError(t testing.TB, c *websocket.Conn, code string) {
	t.Helper()
	f := readFrame(t, c)
	if f.Type != "error" || f.Code != code {
		t.Fatalf("got %+v, want error %q", f, code)
	}
	if f.Message == "" {
		t.Fatalf("error %q without a message", code)
	}
}

// join joins room and checks the "joined" reply; it returns the count.
func join(t testing.TB, c *websocket.Conn, room string, presence bool) int {
	t.Helper()
	send(t, c, `{"type":"join","room":"`+room+`","presence":`+strconv.FormatBool(presence)+`}`)
	f := readFrame(t, c)
	if f.Type != "joined" || f.Room == nil || *f.Room != room || f.Count == nil {
		t.Fatalf("join %s: got %+v, want joined", room, f)
	}
	return *f.Count
}

// expectCloseCode reads until the connection ends and checks the close code.
func expectCloseCode(t testing.TB, c *websocket.Conn, code int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < 10000; i++ {
		_, b, err := c.ReadMessage()
		if err == nil {
			_ = b
			continue
		}
		if !websocket.IsCloseError(err, code) {
			t.Fatalf("connection ended with %v, want close %d", err, code)
		}
		return
	}
	t.Fatalf("no close after 10000 messages, want close %d", code)
}

// rawApp is a client on a raw blocking socket, for what gorilla cannot do:
// a receive buffer set before connect (slow consumers) and many frames
// pipelined in one write.
type rawApp struct {
	t    testing.TB
	fd   int
	buf  []byte
	rd   wsproto.Reader
	msgs []rawMsg // parsed, not yet returned by next
}

// rawMsg is one event a rawApp read: a data message or a close.
type rawMsg struct {
	op    wsproto.OpCode
	data  []byte
	close bool
	code  wsproto.StatusCode
}

func (r *rawApp) OnMessage(op wsproto.OpCode, p []byte) error {
	r.msgs = append(r.msgs, rawMsg{op: op, data: append([]byte(nil), p...)})
	return nil
}
func (r *rawApp) OnPing([]byte) error { return nil }
func (r *rawApp) OnPong([]byte) error { return nil }
func (r *rawApp) OnClose(c wsproto.StatusCode, _ []byte) error {
	r.msgs = append(r.msgs, rawMsg{close: true, code: c})
	return nil
}

// dialRawApp connects to s as user with SO_RCVBUF rcvbuf (0: the
// default), set before connect so that the TCP window is small from the
// start, and completes the upgrade.
func dialRawApp(t testing.TB, s *Server, user string, rcvbuf int) *rawApp {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	tv := unix.Timeval{Sec: 10}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c := &rawApp{t: t, fd: fd, buf: make([]byte, 64<<10)}
	t.Cleanup(c.close)
	req := "GET /ws?user=" + url.QueryEscape(user) + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	c.write([]byte(req))
	n := 0
	for {
		m, err := unix.Read(c.fd, c.buf[n:])
		if err != nil || m == 0 {
			t.Fatalf("read upgrade response: %q, err %v", c.buf[:n], err)
		}
		n += m
		if end := bytes.Index(c.buf[:n], []byte("\r\n\r\n")); end >= 0 {
			if !bytes.HasPrefix(c.buf[:n], []byte("HTTP/1.1 101 ")) {
				t.Fatalf("upgrade: %q", c.buf[:n])
			}
			if rest := c.buf[end+4 : n]; len(rest) > 0 {
				if err := c.rd.Feed(rest, &clientCfg, c); err != nil {
					t.Fatalf("client parser: %v", err)
				}
			}
			return c
		}
	}
}

func (c *rawApp) close() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
}

func (c *rawApp) write(b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(c.fd, b)
		if err != nil {
			c.t.Fatalf("write: %v", err)
		}
		b = b[n:]
	}
}

// sendAll sends every message as a masked text frame, all in one write.
func (c *rawApp) sendAll(msgs ...string) {
	var b []byte
	for _, m := range msgs {
		b = wsproto.AppendMaskedFrame(b, true, wsproto.OpText, []byte(m), testKey)
	}
	c.write(b)
}

// next returns the next message or close; ok is false on EOF or error.
func (c *rawApp) next() (m rawMsg, ok bool) {
	for len(c.msgs) == 0 {
		n, err := unix.Read(c.fd, c.buf)
		if err != nil || n == 0 {
			return rawMsg{}, false
		}
		if err := c.rd.Feed(c.buf[:n], &clientCfg, c); err != nil {
			c.t.Fatalf("client parser: %v", err)
		}
	}
	m = c.msgs[0]
	c.msgs = c.msgs[1:]
	return m, true
}

// nextFrame returns the next message decoded as JSON; it fails on a close
// or EOF.
func (c *rawApp) nextFrame() frame {
	c.t.Helper()
	m, ok := c.next()
	if !ok || m.close {
		c.t.Fatalf("got close %v (ok %v), want a message", m.code, ok)
	}
	var f frame
	if err := json.Unmarshal(m.data, &f); err != nil {
		c.t.Fatalf("%q is not JSON: %v", m.data, err)
	}
	return f
}
