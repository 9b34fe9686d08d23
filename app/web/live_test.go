package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// startStatus serves a Status for node on a test HTTP server.
func startStatus(t *testing.T, node *fakeNode, cfg Config) (*Status, *httptest.Server) {
	t.Helper()
	cfg.Sources = []Source{{Node: "n1", Write: node.Write}}
	if cfg.Auth == "" {
		cfg.Auth = "none"
	}
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	st, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	st.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		st.Close()
		srv.Close()
	})
	return st, srv
}

// dialLive opens /v1/live with header h; it returns the connection or the
// HTTP status of a refusal.
func dialLive(t *testing.T, srv *httptest.Server, h http.Header) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	status := 0
	d := ws.Dialer{
		Header:        ws.HandshakeHeaderHTTP(h),
		Timeout:       5 * time.Second,
		OnStatusError: func(code int, _ []byte, _ io.Reader) { status = code },
	}
	conn, br, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/live")
	if err != nil {
		if status == 0 {
			t.Fatalf("cannot dial the live feed: %v", err)
		}
		return nil, nil, status
	}
	t.Cleanup(func() { conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return conn, br, http.StatusSwitchingProtocols
}

// next reads the next data message from the server.
func next(t *testing.T, conn net.Conn, br *bufio.Reader) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{br, conn})
	if err != nil {
		t.Fatalf("cannot read from the live feed: %v", err)
	}
	return p
}

// expectClose reads until the server's close frame and checks its code.
func expectClose(t *testing.T, conn net.Conn, br *bufio.Reader, want ws.StatusCode) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, p, err := testReadFrame(br)
		if err != nil {
			t.Fatalf("no close frame %d: %v", want, err)
		}
		if h.OpCode == ws.OpClose {
			if code, reason := ws.ParseCloseFrameData(p); code != want {
				t.Fatalf("close %d %q, want %d", code, reason, want)
			}
			return
		}
	}
}

func TestLiveFeed(t *testing.T) {
	node := &fakeNode{conns: 7, rooms: 2, users: 5, rss: 7 << 20, busy: []float64{0}}
	_, srv := startStatus(t, node, Config{})
	conn, br, _ := dialLive(t, srv, nil)

	var h History
	if err := json.Unmarshal(next(t, conn, br), &h); err != nil || h.Type != "history" || h.IntervalMs != 20 {
		t.Fatalf("first message: %+v %v, want the history", h, err)
	}
	var prev int64
	for i := 0; i < 2; i++ {
		var fr Frame
		b := next(t, conn, br)
		if err := json.Unmarshal(b, &fr); err != nil {
			t.Fatalf("frame %d: %v: %s", i, err, b)
		}
		if fr.Type != "live" || fr.TS <= prev || len(fr.Nodes) != 1 || fr.Nodes[0].Node != "n1" || !fr.Nodes[0].Up {
			t.Fatalf("frame %d: %s", i, b)
		}
		if fr.Total.Connections != 7 || fr.Total.Rooms != 2 || fr.Total.Users != 5 || fr.Total.MemoryPerConn == nil || *fr.Total.MemoryPerConn != 1<<20 {
			t.Fatalf("frame %d figures: %s", i, b)
		}
		// Every field the page reads is present, nulls included.
		for _, k := range []string{`"messages_in_per_s":`, `"messages_out_per_s":`, `"deliveries_per_s":`, `"queued_bytes":`, `"slow_consumers":`, `"loop_busy":`, `"ping_rtt":{"p50":null`} {
			if !strings.Contains(string(b), k) {
				t.Fatalf("frame %d has no %s: %s", i, k, b)
			}
		}
		prev = fr.TS
	}
}

func TestLiveFeedLimit(t *testing.T) {
	st, srv := startStatus(t, &fakeNode{}, Config{MaxViewers: 2})
	c1, br1, _ := dialLive(t, srv, nil)
	next(t, c1, br1)
	c2, br2, _ := dialLive(t, srv, nil)
	next(t, c2, br2)
	if _, _, code := dialLive(t, srv, nil); code != http.StatusTooManyRequests {
		t.Fatalf("third viewer: %d, want 429", code)
	}
	// A viewer that leaves frees its place.
	_ = ws.WriteFrame(c1, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	expectClose(t, c1, br1, ws.StatusNormalClosure)
	deadline := time.Now().Add(5 * time.Second)
	for st.Viewers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d viewers after one left, want 1", st.Viewers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	c3, br3, code := dialLive(t, srv, nil)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("viewer after one left: %d, want 101", code)
	}
	next(t, c3, br3)
	// Close sends 1001 to every viewer and refuses new ones.
	st.Close()
	expectClose(t, c2, br2, ws.StatusGoingAway)
	expectClose(t, c3, br3, ws.StatusGoingAway)
	if _, _, code := dialLive(t, srv, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("viewer after Close: %d, want 503", code)
	}
}

func TestLiveFeedKey(t *testing.T) {
	const key = "operator-key-0123456789"
	_, srv := startStatus(t, &fakeNode{conns: 1}, Config{Key: key})
	send := func(c net.Conn, msg string) {
		t.Helper()
		if err := wsutil.WriteClientText(c, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// No key, a wrong key, or not an auth message: closed with 1008 before
	// any figure.
	for _, msg := range []string{`{"type":"auth","key":"wrong"}`, `{"type":"auth"}`, `{"type":"hello","key":"` + key + `"}`, `not json`} {
		c, br, _ := dialLive(t, srv, nil)
		send(c, msg)
		expectClose(t, c, br, ws.StatusPolicyViolation)
	}
	// The right key in the first message: the feed flows.
	c, br, _ := dialLive(t, srv, nil)
	send(c, `{"type":"auth","key":"`+key+`"}`)
	var h History
	if err := json.Unmarshal(next(t, c, br), &h); err != nil || h.Type != "history" {
		t.Fatalf("after the key: %+v %v", h, err)
	}
	// The page learns from /v1/info that it must ask for the key.
	resp, err := http.Get(srv.URL + "/v1/info")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in Info
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || !in.KeyRequired {
		t.Fatalf("info: %+v %v, want key_required", in, err)
	}
}

// Another site's page cannot read the feed through a visitor's browser.
func TestLiveFeedOrigin(t *testing.T) {
	_, srv := startStatus(t, &fakeNode{}, Config{})
	host := strings.TrimPrefix(srv.URL, "http://")
	if _, _, code := dialLive(t, srv, http.Header{"Origin": {"http://evil.example"}}); code != http.StatusForbidden {
		t.Fatalf("cross-origin viewer: %d, want 403", code)
	}
	if _, _, code := dialLive(t, srv, http.Header{"Origin": {"http://" + host}}); code != http.StatusSwitchingProtocols {
		t.Fatalf("same-origin viewer: %d, want 101", code)
	}
}

// Frames over the cap and unmasked frames close the feed with the RFC's
// codes.
func TestLiveFeedBadFrames(t *testing.T) {
	_, srv := startStatus(t, &fakeNode{}, Config{})
	c, br, _ := dialLive(t, srv, nil)
	next(t, c, br)
	_ = wsutil.WriteClientText(c, make([]byte, maxClientFrame+1))
	expectClose(t, c, br, ws.StatusMessageTooBig)

	c, br, _ = dialLive(t, srv, nil)
	next(t, c, br)
	_ = ws.WriteFrame(c, ws.NewTextFrame([]byte("unmasked")))
	expectClose(t, c, br, ws.StatusProtocolError)
}

func TestPageRoutes(t *testing.T) {
	_, srv := startStatus(t, &fakeNode{}, Config{WSPort: 8123, WSPath: "/ws", Auth: "jwt"})
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	f := func(path, ctype, contains string) {
		t.Helper()
		resp, body := get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || !strings.Contains(body, contains) {
			t.Fatalf("GET %s: %d %q, body has %q: %v", path, resp.StatusCode, resp.Header.Get("Content-Type"), contains, strings.Contains(body, contains))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("GET %s: headers %v", path, resp.Header)
		}
	}
	f("/", "text/html; charset=utf-8", `<script type="module" src="/static/status.js">`)
	f("/c1m.js", "text/javascript; charset=utf-8", "export class C1MClient")
	f("/static/status.js", "text/javascript; charset=utf-8", `from "/c1m.js"`)
	f("/static/status.css", "text/css; charset=utf-8", "--bg")
	if _, body := get("/c1m.js"); body != string(Client) {
		t.Fatal("/c1m.js is not the repository's c1m.js")
	}
	// The page learns where the client listener is, as seen from the
	// host it was loaded from, and the auth mode.
	resp, body := get("/v1/info")
	var in Info
	if err := json.Unmarshal([]byte(body), &in); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("info: %v %s", err, body)
	}
	if in.WSURL != "ws://127.0.0.1:8123/ws" || in.Auth != "jwt" || in.KeyRequired || len(in.Nodes) != 1 || in.Nodes[0] != "n1" {
		t.Fatalf("info: %+v", in)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{Auth: "none"}); !errors.Is(err, ErrNoSource) {
		t.Fatalf("no source: %v", err)
	}
	if _, err := New(Config{Auth: "basic", Sources: []Source{{Node: "a", Write: (&fakeNode{}).Write}}}); err == nil {
		t.Fatal("auth basic accepted")
	}
}

// testReadFrame reads one frame of at most 1 MiB from either side and
// unmasks it.
func testReadFrame(r io.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Length > 1<<20 {
		return h, nil, errors.New("test frame over 1 MiB")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(r, p); err != nil {
		return h, nil, err
	}
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	return h, p, nil
}

// The API's http.Server has a ReadTimeout, which stays set on a hijacked
// connection: the feed must clear it and keep running past it.
func TestLiveFeedOutlivesReadTimeout(t *testing.T) {
	st, err := New(Config{Sources: []Source{{Node: "n1", Write: (&fakeNode{}).Write}}, Auth: "none", Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	st.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(func() {
		st.Close()
		srv.Close()
	})
	conn, br, _ := dialLive(t, srv, nil)
	next(t, conn, br) // history
	deadline := time.Now().Add(300 * time.Millisecond)
	for n := 0; time.Now().Before(deadline) || n < 10; n++ {
		next(t, conn, br)
	}
	// And it still reads: a ping is answered.
	if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewPingFrame([]byte("hi")))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, p, err := testReadFrame(br)
		if err != nil {
			t.Fatalf("no pong: %v", err)
		}
		if h.OpCode == ws.OpPong {
			if string(p) != "hi" {
				t.Fatalf("pong %q, want hi", p)
			}
			break
		}
	}
}

// Close reaches a viewer that has not given its key yet: it gets 1001 at
// once rather than waiting out the key's deadline.
func TestLiveFeedCloseDuringAuth(t *testing.T) {
	st, srv := startStatus(t, &fakeNode{}, Config{Key: "some-key-0123456789"})
	conn, br, _ := dialLive(t, srv, nil)
	deadline := time.Now().Add(5 * time.Second)
	for st.Viewers() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the viewer never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.Close()
	expectClose(t, conn, br, ws.StatusGoingAway)
}
