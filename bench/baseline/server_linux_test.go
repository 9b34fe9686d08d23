//go:build linux

package baseline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"c1m/internal/c1mtest"

	"github.com/gorilla/websocket"
)

func TestBroadcastReachesEveryClientInOrder(t *testing.T) {
	const clients, messages = 200, 20
	s := startServer(t, Config{})
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, s, dialOpts{})
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Conns() == clients }, c1mtest.Say("200 upgraded connections"))

	data := func(i int) string { return fmt.Sprintf(`{"n":%d,"text":"hello \"%d\""}`, i, i) }
	for i := 1; i <= messages; i++ {
		if seq := publish(t, s, data(i)); seq != uint64(i) {
			t.Fatalf("publish %d: seq %d", i, seq)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for ci, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for i := 1; i <= messages; i++ {
				typ, raw, err := c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("client %d, message %d: %v", ci, i, err)
					return
				}
				if typ != websocket.TextMessage {
					errs <- fmt.Errorf("client %d, message %d: type %d, want text", ci, i, typ)
					return
				}
				if _, err := checkMessage(raw, uint64(i), data(i)); err != nil {
					errs <- fmt.Errorf("client %d: %v", ci, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := metric(t, s, "c1m_connections"); got != "200" {
		t.Errorf("c1m_connections %q, want 200", got)
	}
	if got := metric(t, s, "c1m_published_total"); got != "20" {
		t.Errorf("c1m_published_total %q, want 20", got)
	}
}

func TestSlowClientIsClosedOthersKeepReceiving(t *testing.T) {
	const queue, readers = 8, 3
	s := startServer(t, Config{QueueLen: queue})
	// The slow client never reads, and a small receive buffer (set before
	// connect, so no autotuning) makes its socket fill soon.
	slow := dial(t, s, dialOpts{rcvBuf: 4096})
	rs := make([]*reader, readers)
	for i := range rs {
		rs[i] = startReader(dial(t, s, dialOpts{}))
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Conns() == readers+1 }, c1mtest.Say("the connections"))

	data := `{"pad":"` + strings.Repeat("x", 16<<10) + `"}`
	// Publish in lockstep with the readers: each message is published
	// only once every reader has the one before, so a reader never falls
	// behind (on a loaded box it would otherwise fill its own queue and be
	// closed as slow too), while the slow client, which never reads,
	// fills its socket and then its queue.
	var last uint64
	caughtUp := func() bool {
		for _, r := range rs {
			if seq, err := r.state(); err != nil || seq != last {
				return err != nil
			}
		}
		return true
	}
	step := func() {
		last = publish(t, s, data)
		c1mtest.Eventually(t, 10*time.Second, caughtUp, func() string { return fmt.Sprintf("the readers to get seq %d", last) })
	}
	for i := 0; s.Conns() > readers; i++ {
		if i == 5000 {
			t.Fatalf("the slow client is still open after %d messages", i)
		}
		step()
	}
	// Those who read get everything, including what comes after.
	for i := 0; i < 5; i++ {
		step()
	}
	for i, r := range rs {
		if seq, err := r.state(); err != nil || seq != last {
			t.Errorf("reader %d: last seq %d, want %d; err %v", i, seq, last, err)
		}
	}
	if got := metric(t, s, `c1m_connections_closed_total{reason="slow"}`); got != "1" {
		t.Errorf("slow closes %q, want 1", got)
	}
	// The slow client finds its connection closed after what was buffered.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the slow client's connection is still open: %v", err)
			}
			break
		}
	}
}

func TestPingPongAndClose(t *testing.T) {
	s := startServer(t, Config{})
	c := dial(t, s, dialOpts{})
	pongs := make(chan string, 1)
	c.SetPongHandler(func(p string) error { pongs <- p; return nil })
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there?"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pongs:
		if p != "are you there?" {
			t.Fatalf("pong payload %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	// A data message is read and dropped; the connection stays.
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if !websocket.IsCloseError(err, 4001) {
			t.Fatalf("read after close: %v, want the echoed close 4001", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no close reply")
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Conns() == 0 }, c1mtest.Say("the server to forget the connection"))
}

func TestProtocolErrors(t *testing.T) {
	s := startServer(t, Config{})
	f := func(name string, frame []byte, want int) {
		t.Helper()
		c := dial(t, s, dialOpts{})
		if _, err := c.UnderlyingConn().Write(frame); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, want) {
			t.Fatalf("%s: %v, want close %d", name, err, want)
		}
	}
	f("unmasked text", []byte{0x81, 0x02, 'h', 'i'}, websocket.CloseProtocolError)
	f("rsv1 set", []byte{0xc1, 0x80, 0, 0, 0, 0}, websocket.CloseProtocolError)
	f("fragmented ping", []byte{0x09, 0x80, 0, 0, 0, 0}, websocket.CloseProtocolError)
	f("reserved opcode", []byte{0x8b, 0x80, 0, 0, 0, 0}, websocket.CloseProtocolError)
	big := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0} // 128 KiB binary
	f("too big", big, websocket.CloseMessageTooBig)

	if _, resp, err := dialErr(s, dialOpts{path: "/other"}); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("dial /other: %v, %v; want 404", err, resp)
	}
}

func TestAPI(t *testing.T) {
	s := startServer(t, Config{APIKey: "k3y"})
	_ = dial(t, s, dialOpts{})
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Conns() == 1 }, c1mtest.Say("the connection"))
	f := func(method, path, key, body string, wantCode int, wantBody string) {
		t.Helper()
		code, got := apiDo(t, s, method, path, key, body)
		if code != wantCode || !strings.Contains(got, wantBody) {
			t.Fatalf("%s %s %s: %d %q, want %d with %q", method, path, body, code, got, wantCode, wantBody)
		}
	}
	f("POST", "/v1/publish", "", `{"all":true,"data":1}`, http.StatusUnauthorized, "unauthorized")
	f("POST", "/v1/publish", "wrong", `{"all":true,"data":1}`, http.StatusUnauthorized, "unauthorized")
	f("POST", "/v1/publish", "k3y", `{"room":"lobby","data":1}`, http.StatusBadRequest, "rooms are not supported by the baseline")
	f("POST", "/v1/publish", "k3y", `{"user":"ann","data":1}`, http.StatusBadRequest, "users are not supported")
	f("POST", "/v1/publish", "k3y", `{"data":1}`, http.StatusBadRequest, "to everyone only")
	f("POST", "/v1/publish", "k3y", `{"all":true}`, http.StatusBadRequest, "is required")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":{]}`, http.StatusBadRequest, "bad_json")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":1,"x":2}`, http.StatusBadRequest, "bad_json")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":"`+strings.Repeat("x", 70<<10)+`"}`, http.StatusRequestEntityTooLarge, "too_large")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":[1,2]}`, http.StatusAccepted, `{"seq":1}`)
	f("GET", "/livez", "", "", http.StatusOK, "ok")
	f("GET", "/nope", "k3y", "", http.StatusNotFound, "not_found")
	f("GET", "/metrics", "", "", http.StatusOK, "process_resident_memory_bytes ")
	f("GET", "/metrics", "", "", http.StatusOK, "go_goroutines ")
	if got := metric(t, s, "c1m_connections"); got != "1" {
		t.Fatalf("c1m_connections %q, want 1", got)
	}
}

func TestNewChecksConfig(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("New(%+v): %v, want an error with %q", cfg, err, want)
		}
	}
	f(Config{APIAddr: "127.0.0.1:0"}, "WebSocket address is empty")
	f(Config{Addr: "127.0.0.1:0"}, "API address is empty")
	f(Config{Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", Path: "ws"}, "does not start with /")
	f(Config{Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0", QueueLen: -1}, "queue length")
	f(Config{Addr: "127.0.0.1:0", APIAddr: "0.0.0.0:0"}, "needs an API key")
}

func TestShutdownReleasesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(t, s, dialOpts{noClose: true})
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Conns() == n }, c1mtest.Say("the connections"))
	if got := runtime.NumGoroutine() - before; got < 2*n {
		t.Fatalf("%d goroutines for %d connections, want at least %d (reader and writer each)", got, n, 2*n)
	}
	publish(t, s, `"last words"`)
	// One connection is mid-handshake: Shutdown must not wait for its
	// deadline.
	raw, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.liveConns() == n+1 }, c1mtest.Say("the pending connection"))

	start := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > shutdownGrace+time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if s.Conns() != 0 {
		t.Errorf("%d connections after Shutdown", s.Conns())
	}
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, raw, err := c.ReadMessage(); err != nil || !strings.Contains(string(raw), `"last words"`) {
			t.Fatalf("client %d: %q, %v; want the last message", i, raw, err)
		}
		if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
			t.Fatalf("client %d: %v, want close 1001", i, err)
		}
		c.Close()
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before }, func() string {
		return "goroutines back to " + strconv.Itoa(before) + ", now " + strconv.Itoa(runtime.NumGoroutine())
	})
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Errorf("Start after Shutdown: %v, want ErrStarted", err)
	}
}
