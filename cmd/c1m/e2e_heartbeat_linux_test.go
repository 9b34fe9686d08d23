//go:build linux

package main

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// TestHeartbeatIdleTimeout checks --ping-interval: the server pings with an
// 8-byte payload, a client that answers stays connected, and a client that
// never answers is closed with 1001 "idle timeout" after two silent
// intervals and counted.
func TestHeartbeatIdleTimeout(t *testing.T) {
	const interval = 200 * time.Millisecond
	p := startServe(t, "--handler=echo", "--ping-interval="+interval.String())

	// The live client answers every ping from a reader goroutine and hands
	// text messages and any close frame to the test.
	live, err := dialWS(p.Addr, "/ws", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Close() })
	liveStart := time.Now()
	var (
		mu        sync.Mutex
		pings     int
		badPings  []int // lengths of ping payloads other than 8
		closeSeen string
	)
	texts := make(chan string, 16)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		// Bounded: at 5 pings a second the test never gets near it.
		for i := 0; i < 10000; i++ {
			e, err := live.Next()
			if err != nil {
				return
			}
			payload := e.Data
			switch e.Op {
			case wsproto.OpPing:
				mu.Lock()
				pings++
				if len(payload) != 8 {
					badPings = append(badPings, len(payload))
				}
				mu.Unlock()
				if err := live.SendFrame(true, wsproto.OpPong, payload); err != nil {
					return
				}
			case wsproto.OpText:
				texts <- string(payload)
			case wsproto.OpClose:
				mu.Lock()
				closeSeen = fmt.Sprintf("%d %q", e.Code, e.Reason)
				mu.Unlock()
				return
			}
		}
	}()

	// The idle client completes the upgrade and then never sends a byte,
	// so it never answers a ping.
	idle, err := dialWS(p.Addr, "/ws", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Close() })
	// Two to three intervals are expected; 5 s is only a bound on the wait.
	code, reason, err := idle.readClose(5 * time.Second)
	if err != nil {
		t.Fatalf("silent client: no close frame within 5 s at a %v ping interval: %v", interval, err)
	}
	if code != 1001 || reason != "idle timeout" {
		t.Fatalf("silent client closed with %d %q, want 1001 \"idle timeout\"", code, reason)
	}
	var idleClosed float64
	c1mtest.Eventually(t, 5*time.Second, func() bool {
		idleClosed = p.Metric(`c1m_connections_closed_total{reason="idle_timeout"}`)
		return idleClosed >= 1
	}, func() string {
		return fmt.Sprintf(`c1m_connections_closed_total{reason="idle_timeout"} = %v, want 1`, idleClosed)
	})

	// The answering client is still open after 2 s (ten intervals): it
	// echoes, and it has seen no close frame.
	time.Sleep(time.Until(liveStart.Add(2 * time.Second)))
	if err := live.SendFrame(true, wsproto.OpText, []byte("alive")); err != nil {
		t.Fatalf("answering client after 2 s: %v", err)
	}
	select {
	case got := <-texts:
		if got != "alive" {
			t.Fatalf("answering client: echo %q, want \"alive\"", got)
		}
	case <-readerDone:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("answering client was closed (close frame: %s) after %d pings", closeSeen, pings)
	case <-time.After(10 * time.Second):
		t.Fatal("answering client: no echo within 10 s")
	}
	mu.Lock()
	n, bad, cs := pings, badPings, closeSeen
	mu.Unlock()
	if cs != "" {
		t.Fatalf("answering client got a close frame: %s", cs)
	}
	if n == 0 {
		t.Fatalf("answering client got no ping in 2 s at a %v interval", interval)
	}
	if len(bad) > 0 {
		t.Fatalf("ping payload lengths %v, want 8 (the send time)", bad)
	}
	t.Logf("answering client: %d pings in 2 s", n)
	if got := p.Metric(`c1m_connections_closed_total{reason="idle_timeout"}`); got != 1 {
		t.Fatalf(`c1m_connections_closed_total{reason="idle_timeout"} = %v, want 1 (only the silent client)`, got)
	}
	if got := p.Metric("c1m_connections"); got != 1 {
		t.Fatalf("c1m_connections = %v, want 1 (the answering client)", got)
	}
}
