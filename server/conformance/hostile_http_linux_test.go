//go:build linux

package conformance

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestHandshakeAnswers sends bad upgrade requests and checks the HTTP
// status docs/operations.md promises for each, followed by the server
// closing the connection, and that the server goes on upgrading others.
func TestHandshakeAnswers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-header-bytes", "8192")
	base := srv.usage()
	req := func(method, path string, headers ...string) string {
		h := map[string]string{
			"Host": srv.Addr, "Upgrade": "websocket", "Connection": "Upgrade",
			"Sec-WebSocket-Key": wsKey, "Sec-WebSocket-Version": "13",
		}
		order := []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"}
		for _, kv := range headers {
			k, v, _ := strings.Cut(kv, ": ")
			if _, ok := h[k]; !ok {
				order = append(order, k)
			}
			h[k] = v
		}
		var b strings.Builder
		b.WriteString(method + " " + path + " HTTP/1.1\r\n")
		for _, k := range order {
			if h[k] != "-" {
				b.WriteString(k + ": " + h[k] + "\r\n")
			}
		}
		b.WriteString("\r\n")
		return b.String()
	}
	f := func(name, request string, chop, wantStatus int, wantHeader string) {
		t.Helper()
		c := dialTCP(t, srv.Addr, 0)
		defer c.Close()
		cl := &client{conn: c}
		if err := cl.write([]byte(request), chop); err != nil {
			t.Fatalf("%s: cannot send: %v", name, err)
		}
		if wantStatus == 101 {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			head, _, err := readHead(c)
			if err != nil || !strings.HasPrefix(head, "HTTP/1.1 101 ") || !strings.Contains(head, "\r\n"+wantHeader+"\r\n") {
				t.Fatalf("%s: %q, %v; want 101 with %q", name, head, err, wantHeader)
			}
			return
		}
		a, err := readAnswer(c, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.status != wantStatus {
			t.Fatalf("%s: status %d, want %d:\n%s", name, a.status, wantStatus, a.head)
		}
		if wantHeader != "" && !strings.Contains(a.head, "\r\n"+wantHeader+"\r\n") {
			t.Fatalf("%s: response without %q:\n%s", name, wantHeader, a.head)
		}
		if !a.closed {
			t.Fatalf("%s: the server did not close after %d", name, a.status)
		}
	}
	// RFC 6455 §4.2.1: the request "MUST be a valid HTTP request as
	// specified by [RFC2616]"; §4.2.2: "If the server, while reading the
	// handshake, finds that the client did not send a handshake that
	// matches the description below [...], the server MUST stop processing
	// the client's handshake and return an HTTP response with an
	// appropriate error code (such as 400 Bad Request)."
	f("garbage", "\x00\xff\xfe garbage \x01\x02\r\n\r\n", 0, 400, "")
	f("text that is not HTTP", "hello world\r\n\r\n", 0, 400, "")
	f("HTTP/1.0", strings.Replace(req("GET", "/ws"), "HTTP/1.1", "HTTP/1.0", 1), 0, 400, "")
	// §4.2.1: "An HTTP/1.1 or higher GET request".
	f("POST", req("POST", "/ws"), 0, 405, "")
	f("PUT", req("PUT", "/ws"), 0, 405, "")
	// §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a
	// base64-encoded [...] value that, when decoded, is 16 bytes in length."
	f("missing key", req("GET", "/ws", "Sec-WebSocket-Key: -"), 0, 400, "")
	f("key of 15 bytes", req("GET", "/ws", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), 0, 400, "")
	f("key not base64", req("GET", "/ws", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), 0, 400, "")
	// §4.2.1 items 3, 4: Upgrade and Connection.
	f("missing Upgrade", req("GET", "/ws", "Upgrade: -"), 0, 400, "")
	f("missing Connection", req("GET", "/ws", "Connection: -"), 0, 400, "")
	// §4.4: "If this version does not match a version understood by the
	// server, the server MUST abort the WebSocket handshake described in
	// Section 4.2 and instead send an appropriate HTTP error code (such
	// as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field
	// indicating the version(s) the server is capable of understanding."
	f("version 8", req("GET", "/ws", "Sec-WebSocket-Version: 8"), 0, 426, "Sec-WebSocket-Version: 13")
	f("version 14", req("GET", "/ws", "Sec-WebSocket-Version: 14"), 0, 426, "Sec-WebSocket-Version: 13")
	f("missing version", req("GET", "/ws", "Sec-WebSocket-Version: -"), 0, 400, "")
	f("wrong path", req("GET", "/other"), 0, 404, "")
	// RFC 6585 §5: "431 Request Header Fields Too Large", past
	// --max-header-bytes, with and without the end of the head.
	f("header over the limit", req("GET", "/ws", "X-Padding: "+strings.Repeat("a", 10<<10)), 0, 431, "")
	f("endless head", "GET /ws HTTP/1.1\r\nX-Padding: "+strings.Repeat("a", 16<<10), 0, 431, "")
	f("header over the limit, byte by byte", req("GET", "/ws", "X-Padding: "+strings.Repeat("a", 9<<10)), 1, 431, "")
	// The same valid request, whole and byte by byte, still upgrades.
	f("valid", req("GET", "/ws"), 0, 101, "Sec-WebSocket-Accept: "+wsAccept)
	f("valid byte by byte", req("GET", "/ws"), 1, 101, "Sec-WebSocket-Accept: "+wsAccept)
	echoOK(t, srv.Addr)
	srv.checkNoLeaks(base)
}

// TestSlowloris sends upgrade requests at one byte a second: each is
// answered 408 and closed at --handshake-timeout, long before it is
// complete, and the server keeps upgrading others meanwhile.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	srv := startServer(t, "--handshake-timeout", timeout.String())
	base := srv.usage()
	const conns = 50
	request := []byte(upgradeRequest(srv.Addr)) // over 100 bytes: 100 s at 1 B/s
	type answer struct {
		i   int
		a   httpAnswer
		err error
	}
	answers := make(chan answer, conns)
	answered := make([]atomic.Bool, conns)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialTCP(t, srv.Addr, 0)
		defer cs[i].Close()
		go func(i int) {
			a, err := readAnswer(cs[i], 30*time.Second)
			answered[i].Store(true)
			answers <- answer{i, a, err}
		}(i)
	}
	// One byte a second on every connection not yet answered, for at
	// most 20 bytes (the deadline is 2 s; the bound only ends a broken
	// run), while others are served meanwhile.
	sent := 0
	for ; sent < 20; sent++ {
		n := 0
		for i, c := range cs {
			if !answered[i].Load() {
				_, _ = c.Write(request[sent : sent+1])
				n++
			}
		}
		if n == 0 {
			break
		}
		echoOK(t, srv.Addr)
		time.Sleep(time.Second)
	}
	for range conns {
		r := <-answers
		if r.err != nil {
			t.Fatalf("slowloris %d: %v", r.i, r.err)
		}
		if r.a.status != 408 || !r.a.closed {
			t.Fatalf("slowloris %d: status %d, closed %v; want 408 and closed", r.i, r.a.status, r.a.closed)
		}
	}
	if sent >= len(request) {
		t.Fatalf("the whole request (%d bytes) went out before the 408", len(request))
	}
	if got := srv.Metric(`c1m_handshake_failures_total{reason="timeout"}`); got != conns {
		t.Fatalf("c1m_handshake_failures_total{reason=\"timeout\"} = %v, want %d", got, conns)
	}
	t.Logf("%d slowloris connections answered 408 after %d bytes each", conns, sent)
	srv.checkNoLeaks(base)
}

// TestIdleSocketsDoNotBlock holds 5,000 TCP connections that never send a
// byte and shows that others still upgrade and echo meanwhile.
func TestIdleSocketsDoNotBlock(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--handshake-timeout", "60s")
	base := srv.usage()
	const idle = 5000
	cs := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		cs = append(cs, dialTCP(t, srv.Addr, 0))
	}
	c1mtest.Eventually(t, 20*time.Second, func() bool { return srv.Metric("c1m_sockets") >= idle },
		func() string { return fmt.Sprintf("c1m_sockets %v, want %d", srv.Metric("c1m_sockets"), idle) })
	for i := 0; i < 50; i++ {
		echoOK(t, srv.Addr)
	}
	if got := srv.Metric(`c1m_handshake_failures_total{reason="timeout"}`); got != 0 {
		t.Fatalf("%v idle sockets timed out already", got)
	}
	if got := srv.Metric("c1m_connections_opened_total"); got != 50 {
		t.Fatalf("c1m_connections_opened_total %v, want 50", got)
	}
	for _, c := range cs {
		c.Close()
	}
	cs = cs[:0]
	srv.checkNoLeaks(base)
}
