//go:build linux

package app

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

	"c1m/internal/c1mtest"
	"c1m/server"
	"c1m/wsproto"
)

// testApp is an App running in-process: its engine and its publish API,
// all on ephemeral loopback ports.
type testApp struct {
	app *App
	s   *server.Server
	key string // the API key, sent by publish
}

// startApp starts an App, stopped when the test ends. Zero fields take
// ephemeral loopback ports, no metrics listener, a quiet logger, a 2 s
// drain and a loopback API without a key.
func startApp(t testing.TB, acfg Config, cfg server.Config, apiCfg APIConfig) *testApp {
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
	if cfg.DrainDelay == 0 {
		cfg.DrainDelay = -1 // tests shut down at once
	}
	if apiCfg.Addr == "" {
		apiCfg.Addr = "127.0.0.1:0"
	}
	acfg.Engine, acfg.API = cfg, apiCfg
	a, err := New(acfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if !a.Engine().Stats().Draining {
			_ = a.Shutdown(ctx)
		}
	})
	return &testApp{app: a, s: a.Engine(), key: apiCfg.Key}
}

// wsURL is the WebSocket URL of s.
func wsURL(s *server.Server) string {
	return "ws://127.0.0.1:" + strconv.Itoa(s.Port()) + server.DefaultPath
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
func (ta *testApp) apiURL(path string) string { return "http://" + ta.app.APIAddr() + path }

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
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
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
func metric(t testing.TB, s *server.Server, name string) float64 {
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

// rawApp is a c1mtest.RawClient bound to a test (its calls fail the
// test), for clients that must control their socket: a small receive
// window, pipelined frames.
type rawApp struct {
	*c1mtest.RawClient
	t testing.TB
}

// dialRawApp connects to s as user with SO_RCVBUF rcvbuf (0: the
// default), set before connect so that the TCP window is small from the
// start, and completes the upgrade.
func dialRawApp(t testing.TB, s *server.Server, user string, rcvbuf int) *rawApp {
	t.Helper()
	c, err := c1mtest.DialWS("127.0.0.1:"+strconv.Itoa(s.Port()), server.DefaultPath+"?user="+url.QueryEscape(user), c1mtest.DialOptions{RcvBuf: rcvbuf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &rawApp{RawClient: c, t: t}
}

// sendAll sends every message as a masked text frame, all in one write.
func (c *rawApp) sendAll(msgs ...string) {
	c.t.Helper()
	if err := c.SendText(msgs...); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next message or close, skipping pings and pongs; ok is
// false on EOF or error.
func (c *rawApp) next() (e c1mtest.Event, ok bool) {
	for {
		e, err := c.Next()
		if err != nil {
			return e, false
		}
		if e.Op != wsproto.OpPing && e.Op != wsproto.OpPong {
			return e, true
		}
	}
}

// nextFrame returns the next message decoded as JSON; it fails on a close
// or EOF.
func (c *rawApp) nextFrame() frame {
	c.t.Helper()
	m, err := c.NextMessage()
	if err != nil {
		c.t.Fatalf("want a message: %v", err)
	}
	var f frame
	if err := json.Unmarshal(m, &f); err != nil {
		c.t.Fatalf("%q is not JSON: %v", m, err)
	}
	return f
}
