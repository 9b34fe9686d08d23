//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestMaxConns503 checks --max-conns: the connection past the cap gets an
// HTTP 503 instead of an upgrade and is counted, /readyz reports the node
// full, and a freed place can be taken again.
func TestMaxConns503(t *testing.T) {
	const maxConns = 10
	p := startServe(t, "--handler=echo", fmt.Sprintf("--max-conns=%d", maxConns))
	if code := p.Readyz(); code != http.StatusOK {
		t.Fatalf("/readyz = %d with no connection, want 200", code)
	}
	conns := make([]*wsConn, maxConns)
	for i := range conns {
		c, err := dialWS(p.Addr, "/ws", 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, maxConns, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	if code := p.Readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with %d of %d connections, want 503", code, maxConns, maxConns)
	}

	// The 11th: HTTP 503 in answer to the upgrade request, no 101.
	c, err := c1mtest.Dial(p.Addr, c1mtest.DialOptions{})
	if err != nil {
		t.Fatalf("cannot connect the connection past the cap: %v", err)
	}
	status, head, err := c.Upgrade("/ws")
	if status != 503 {
		t.Fatalf("connection past the cap: got %q (%v), want HTTP/1.1 503", head, err)
	}
	c.Close()
	if got := p.Metric(`c1m_handshake_failures_total{reason="at_capacity"}`); got != 1 {
		t.Fatalf(`c1m_handshake_failures_total{reason="at_capacity"} = %v, want 1`, got)
	}
	if got := p.Metric("c1m_connections"); got != maxConns {
		t.Fatalf("c1m_connections = %v, want %d", got, maxConns)
	}

	// Free one place: once the server has seen both closes, it is ready
	// again and the next connection upgrades.
	_ = conns[0].Close()
	var sockets float64
	c1mtest.Eventually(t, 10*time.Second, func() bool {
		sockets = p.Metric("c1m_sockets")
		return sockets == maxConns-1
	}, func() string {
		return fmt.Sprintf("c1m_sockets = %v after two clients left, want %d", sockets, maxConns-1)
	})
	if code := p.Readyz(); code != http.StatusOK {
		t.Fatalf("/readyz = %d with %d of %d sockets, want 200", code, maxConns-1, maxConns)
	}
	c2, err := dialWS(p.Addr, "/ws", 10*time.Second)
	if err != nil {
		t.Fatalf("connection after a place was freed: %v", err)
	}
	t.Cleanup(func() { _ = c2.Close() })
	if err := c2.echo("back in", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := p.Metric(`c1m_handshake_failures_total{reason="at_capacity"}`); got != 1 {
		t.Fatalf(`c1m_handshake_failures_total{reason="at_capacity"} = %v after the freed place was taken, want still 1`, got)
	}
}

// TestSlowloris checks --handshake-timeout against a client that sends its
// request head one byte every 200 ms: it is cut off (408 or a close) and
// counted, and it does not hold up other clients meanwhile.
func TestSlowloris(t *testing.T) {
	p := startServe(t, "--handler=echo", "--handshake-timeout=1s")

	slow, err := net.DialTimeout("tcp", p.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = slow.Close() })
	head := c1mtest.UpgradeRequest(p.Addr, "/ws")
	// At 5 bytes a second the head would take about 30 s, far past the
	// deadline; the writer stops at the first error or when told to.
	stop := make(chan struct{})
	writerDone := make(chan int)
	go func() {
		sent := 0
		defer func() { writerDone <- sent }()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for sent < len(head) {
			if _, err := slow.Write([]byte{head[sent]}); err != nil {
				return
			}
			sent++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	// Meanwhile another client upgrades and is served.
	time.Sleep(300 * time.Millisecond)
	good, err := dialWS(p.Addr, "/ws", 10*time.Second)
	if err != nil {
		t.Fatalf("a normal client during the slowloris: %v", err)
	}
	t.Cleanup(func() { _ = good.Close() })
	if err := good.echo("not blocked", 10*time.Second); err != nil {
		t.Fatalf("a normal client during the slowloris: %v", err)
	}

	// The slow client is answered 408 or closed, well before its head
	// could be complete.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(io.LimitReader(slow, 4096))
	close(stop)
	sent := <-writerDone
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("slowloris client still connected 10 s after a 1 s handshake timeout (sent %d of %d bytes, got %q)", sent, len(head), resp)
	}
	if len(resp) > 0 && !strings.HasPrefix(string(resp), "HTTP/1.1 408 ") {
		t.Fatalf("slowloris client got %q, want HTTP/1.1 408 or a close", resp)
	}
	if sent >= len(head) {
		t.Fatalf("slowloris client sent its whole head (%d bytes) before it was cut off", sent)
	}
	t.Logf("slowloris cut off after %d of %d bytes: %q (read error %v)", sent, len(head), firstLine(string(resp)), err)
	if got := p.Metric(`c1m_handshake_failures_total{reason="timeout"}`); got != 1 {
		t.Fatalf(`c1m_handshake_failures_total{reason="timeout"} = %v, want 1`, got)
	}
	if got := p.Metric("c1m_connections"); got != 1 {
		t.Fatalf("c1m_connections = %v, want 1 (the normal client)", got)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
