//go:build linux

package raw

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestBroadcastReachesEveryClientInOrder(t *testing.T) {
	for _, sc := range []string{SyscallSend, SyscallWrite} {
		t.Run(sc, func(t *testing.T) {
			const clients, messages = 200, 20
			s := startServer(t, Config{Syscall: sc, Loops: 2, Writers: 3, ChunkSize: 7})
			conns := make([]*websocket.Conn, clients)
			for i := range conns {
				conns[i] = dial(t, s, "", 0)
			}
			waitFor(t, 5*time.Second, "200 upgraded connections", func() bool { return s.Conns() == clients })
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
						if err := checkMessage(raw, uint64(i), data(i)); err != nil {
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
			// A chunk's deliveries are counted after its writes, so a client
			// can read its last message before the count has it: wait for
			// the count, and say where it stopped if it never gets there.
			want, got := fmt.Sprint(clients*messages), ""
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if got = metric(t, s, "c1m_deliveries_total"); got == want || time.Now().After(deadline) {
					break
				}
			}
			if got != want {
				t.Errorf("c1m_deliveries_total %q after 10 s, want %s", got, want)
			}
			if got := metric(t, s, "c1m_published_total"); got != "20" {
				t.Errorf("c1m_published_total %q, want 20", got)
			}
		})
	}
}

func TestSlowClientIsClosedOthersKeepReceiving(t *testing.T) {
	const readers = 3
	s := startServer(t, Config{MaxPending: 16 << 10, SendBuffer: 4096})
	// The slow client never reads, and a small receive buffer (set before
	// connect, so no autotuning) makes its socket fill soon.
	slow := dial(t, s, "", 4096)
	rs := make([]*reader, readers)
	for i := range rs {
		rs[i] = startReader(dial(t, s, "", 0))
	}
	waitFor(t, 5*time.Second, "the connections", func() bool { return s.Conns() == readers+1 })
	data := `{"pad":"` + strings.Repeat("x", 4<<10) + `"}`
	var last uint64
	for i := 0; s.Conns() > readers; i++ {
		if i == 5000 {
			t.Fatalf("the slow client is still open after %d messages", i)
		}
		last = publish(t, s, data)
		time.Sleep(time.Millisecond) // let the readers keep up: only the slow one may fall behind
	}
	for i := 0; i < 5; i++ {
		last = publish(t, s, data)
	}
	waitFor(t, 10*time.Second, "the readers to catch up", func() bool {
		for _, r := range rs {
			if seq, err := r.state(); err == nil && seq != last {
				return false
			}
		}
		return true
	})
	for i, r := range rs {
		if seq, err := r.state(); err != nil || seq != last {
			t.Errorf("reader %d: last seq %d, want %d; err %v", i, seq, last, err)
		}
	}
	if got := metric(t, s, `c1m_connections_closed_total{reason="slow_consumer"}`); got != "1" {
		t.Errorf("slow closes %q, want 1", got)
	}
	if got := metric(t, s, `c1m_writes_queued_total`); got == "0" || got == "" {
		t.Errorf("c1m_writes_queued_total %q, want the slow client's queue counted", got)
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
	c := dial(t, s, "", 0)
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
	// A data message is read and dropped.
	if err := c.WriteMessage(websocket.TextMessage, []byte(`"`+strings.Repeat("y", 30<<10)+`"`)); err != nil {
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
	waitFor(t, 5*time.Second, "the server to forget the connection", func() bool { return s.Conns() == 0 })
	if got := metric(t, s, `c1m_connections_closed_total{reason="peer_close"}`); got != "1" {
		t.Errorf("peer closes %q, want 1", got)
	}
}

func TestProtocolErrors(t *testing.T) {
	s := startServer(t, Config{})
	f := func(name string, frame []byte, want int) {
		t.Helper()
		c := dial(t, s, "", 0)
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
}

func TestHandshakeErrors(t *testing.T) {
	s := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond})
	f := func(name, req, want string) {
		t.Helper()
		if got := rawRequest(t, s, req); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: answer %q, want %q", name, got, want)
		}
	}
	const hdrs = "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	f("other path", "GET /other HTTP/1.1\r\n"+hdrs+"\r\n", "HTTP/1.1 404")
	f("no upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400")
	f("POST", "POST /ws HTTP/1.1\r\n"+hdrs+"\r\n", "HTTP/1.1 405")
	f("huge head", "GET /ws HTTP/1.1\r\n"+hdrs+"X-Pad: "+strings.Repeat("p", 9000)+"\r\n\r\n", "HTTP/1.1 431")
	f("valid", "GET /ws HTTP/1.1\r\n"+hdrs+"Sec-WebSocket-Protocol: token.abc\r\n\r\n", "HTTP/1.1 101")

	// A socket that never sends its request is closed after the timeout.
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent socket: read %d, %v; want EOF (closed by the server)", n, err)
	}
	if got := metric(t, s, `c1m_handshake_failures_total{reason="timeout"}`); got != "1" {
		t.Errorf("handshake timeouts %q, want 1", got)
	}
}

func TestAPI(t *testing.T) {
	s := startServer(t, Config{APIKey: "k3y"})
	_ = dial(t, s, "", 0)
	waitFor(t, 5*time.Second, "the connection", func() bool { return s.Conns() == 1 })
	f := func(method, path, key, body string, wantCode int, wantBody string) {
		t.Helper()
		code, got := apiDo(t, s, method, path, key, body)
		if code != wantCode || !strings.Contains(got, wantBody) {
			t.Fatalf("%s %s %s: %d %q, want %d with %q", method, path, body, code, got, wantCode, wantBody)
		}
	}
	f("POST", "/v1/publish", "", `{"all":true,"data":1}`, http.StatusUnauthorized, "unauthorized")
	f("POST", "/v1/publish", "k3y", `{"room":"lobby","data":1}`, http.StatusBadRequest, "rooms are not supported by the raw floor")
	f("POST", "/v1/publish", "k3y", `{"data":1}`, http.StatusBadRequest, "to everyone only")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":{]}`, http.StatusBadRequest, "bad_json")
	f("POST", "/v1/publish", "k3y", `{"all":true,"data":[1,2]}`, http.StatusAccepted, `{"seq":1}`)
	f("GET", "/livez", "", "", http.StatusOK, "ok")
	f("GET", "/nope", "", "", http.StatusNotFound, "not_found")
	f("GET", "/metrics", "", "", http.StatusOK, "process_resident_memory_bytes ")
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
	ok := Config{Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0"}
	f(Config{APIAddr: "127.0.0.1:0"}, "WebSocket address is empty")
	f(Config{Addr: "127.0.0.1:0"}, "API address is empty")
	with := func(m func(*Config)) Config { c := ok; m(&c); return c }
	f(with(func(c *Config) { c.Path = "ws" }), "does not start with /")
	f(with(func(c *Config) { c.Loops = 300 }), "loops")
	f(with(func(c *Config) { c.Writers = -1 }), "writers")
	f(with(func(c *Config) { c.ChunkSize = -1 }), "chunk size")
	f(with(func(c *Config) { c.MaxPending = -1 }), "max pending")
	f(with(func(c *Config) { c.Syscall = "sendmmsg" }), "want send or write")
	f(with(func(c *Config) { c.APIAddr = "0.0.0.0:0" }), "needs an API key")
}

func TestShutdownClosesEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := New(Config{Addr: "127.0.0.1:0", APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v, want ErrStarted", err)
	}
	c := dial(t, s, "", 0)
	waitFor(t, 5*time.Second, "the connection", func() bool { return s.Conns() == 1 })
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(t.Context()) }()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("read during shutdown: %v, want close 1001", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := s.Publish([]byte(`1`)); err == nil {
		t.Fatal("Publish after Shutdown: want an error")
	}
	c.Close()
	waitFor(t, 5*time.Second, "the server's goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}
