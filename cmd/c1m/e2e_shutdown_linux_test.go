//go:build linux

package main

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"c1m/server"
	"c1m/wsproto"

	"c1m/internal/c1mtest"
)

// TestGracefulShutdown checks the SIGTERM drain as an operator and a client
// see it.
func TestGracefulShutdown(t *testing.T) {
	t.Run("Drain", testDrain)
	t.Run("DrainTimeout", testDrainTimeout)
}

// testDrain: /readyz turns 503, every client gets 1001 with
// server.DrainReason, a new connection is not upgraded, the process exits
// 0, and the close frames go out at --drain-rate, not in one burst.
func testDrain(t *testing.T) {
	const (
		n    = 300
		rate = 100 // close frames per second: the drain takes n/rate = 3 s
	)
	p := startServe(t, "--handler=echo", fmt.Sprintf("--drain-rate=%d", rate), "--drain-timeout=30s", "--max-conns=1000", "--drain-delay=0")

	type result struct {
		at     time.Time
		code   int
		reason string
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c, err := dialWS(p.Addr, "/ws", 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, reason, err := c.readClose(30 * time.Second)
			results[i] = result{at: time.Now(), code: code, reason: reason, err: err}
			if err == nil {
				// Complete the close handshake as a well-behaved client.
				_ = c.SendClose(wsproto.StatusCode(code))
			}
			_ = c.Close()
		}()
	}
	if got := p.Metric("c1m_connections"); got != n {
		t.Fatalf("c1m_connections = %v, want %d", got, n)
	}
	if code := p.Readyz(); code != http.StatusOK {
		t.Fatalf("/readyz = %d before SIGTERM, want 200", code)
	}

	p.Signal(syscall.SIGTERM)
	// The signal is handled asynchronously; the drain lasts about n/rate
	// seconds, far longer than this poll.
	c1mtest.Eventually(t, 5*time.Second, func() bool { return p.Readyz() == http.StatusServiceUnavailable },
		func() string { return "/readyz still 200 after SIGTERM" })

	// A connection attempted during the drain must not be upgraded, and it
	// must be turned away (refused, reset or answered 503) while the drain
	// is still going on, not left hanging until the process exits: the
	// clients the drain tells to reconnect must not be stuck on this node.
	// The check is an ordering, not a timing: the refusal must come before
	// the last drained client's close frame.
	var refusedAt time.Time
	if c, err := c1mtest.Dial(p.Addr, c1mtest.DialOptions{ReadTimeout: 30 * time.Second}); err == nil {
		_, head, err := c.Upgrade("/ws")
		refusedAt = time.Now()
		if err == nil {
			c.Close()
			t.Fatal("a connection opened after SIGTERM was upgraded")
		}
		t.Logf("new connection during the drain: %v (%q)", err, head)
		c.Close()
	} else {
		refusedAt = time.Now()
		t.Logf("new connection during the drain: %v", err)
	}

	if code := p.Wait(40 * time.Second); code != 0 {
		t.Fatalf("c1m serve exited with status %d after SIGTERM, want 0", code)
	}
	wg.Wait()
	var times []time.Time
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("client %d got no close frame: %v", i, r.err)
		}
		if r.code != 1001 || r.reason != server.DrainReason {
			t.Fatalf("client %d: close %d %q, want 1001 %q", i, r.code, r.reason, server.DrainReason)
		}
		times = append(times, r.at)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	// At --drain-rate the n close frames take n/rate seconds. Delays can
	// only stretch that, never shrink it, so half of it is a floor that
	// only a burst (a stampede of reconnects) goes under.
	spread := times[n-1].Sub(times[0])

	floor := time.Duration(n) * time.Second / rate / 2
	t.Logf("%d close frames spread over %v (rate %d/s)", n, spread, rate)
	if !refusedAt.Before(times[n-1]) {
		t.Errorf("the connection attempted after SIGTERM was turned away %v after the last client's close frame; want it turned away during the drain",
			refusedAt.Sub(times[n-1]).Round(time.Millisecond))
	}
	if spread < floor {
		t.Fatalf("%d close frames arrived within %v; at --drain-rate %d/s they must take at least %v", n, spread, rate, floor)
	}
}

// testDrainTimeout: clients that never read and never close cannot hold the
// process past --drain-timeout. The close linger is set so that, without
// the force-close, the drain would wait 20 s for their FINs.
func testDrainTimeout(t *testing.T) {
	const n = 50
	p := startServe(t, "--handler=echo", "--drain-timeout=1s", "--close-linger=20s", "--drain-delay=0")
	for i := 0; i < n; i++ {
		c, err := dialWS(p.Addr, "/ws", 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	if got := p.Metric("c1m_connections"); got != n {
		t.Fatalf("c1m_connections = %v, want %d", got, n)
	}
	p.Signal(syscall.SIGTERM)
	// drain-timeout plus a margin for the process to stop; a drain that
	// waited for these clients would need the 20 s linger.
	if code := p.Wait(1*time.Second + 6*time.Second); code != 0 {
		t.Fatalf("c1m serve exited with status %d after SIGTERM, want 0", code)
	}
}
