//go:build linux

package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// TestHold15000Connections holds 15,000 idle WebSocket connections on one
// `c1m serve` process for 10 s and checks what the design promises: no
// goroutine per connection (go_goroutines stays within a constant of its
// value at zero connections), every connection counted, connections still
// served after the hold, and every descriptor given back once the clients
// leave. 15,000 sockets from 127.0.0.1 to one port fit the default
// ephemeral range (28k ports), and the server plus its reserve fit this
// box's 20,000 open-files limit.
func TestHold15000Connections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 15,000 connections")
	}
	const (
		n       = 15000
		dialers = 64
		// goroutineSlack is how many goroutines above the idle count the
		// server may run while holding n connections: a few for the
		// runtime and the metrics scrape, none per connection.
		goroutineSlack = 10
		hold           = 10 * time.Second
	)
	// The heartbeat runs during the hold (the first ping of each
	// connection lands at a random point of the interval), but no
	// connection may reach the idle timeout (two intervals) during the
	// test.
	p := startServe(t, "--handler=echo", "--ping-interval=1m")

	baseFDs := p.FDs()
	baseG := p.Goroutines()
	t.Logf("idle server: %d fds, %d goroutines", baseFDs, baseG)

	conns := make([]*wsConn, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	start := time.Now()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
		failed   atomic.Int64
	)
	for w := 0; w < dialers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() > 0 {
					return
				}
				c, err := dialWS(p.Addr, "/ws", 10*time.Second)
				if err != nil {
					if failed.Add(1) == 1 {
						errMu.Lock()
						firstErr = fmt.Errorf("connection %d: %w", i, err)
						errMu.Unlock()
					}
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("cannot open %d connections: %v", n, firstErr)
	}
	t.Logf("%d connections open in %v", n, time.Since(start).Round(time.Millisecond))

	check := func(when string) {
		t.Helper()
		m := p.Scrape()
		if got := m["c1m_connections"]; got != n {
			t.Fatalf("%s: c1m_connections = %v, want %d", when, got, n)
		}
		g := int(m["go_goroutines"])
		if g > baseG+goroutineSlack {
			t.Fatalf("%s: server runs %d goroutines with %d connections, %d with none; want at most %d (no goroutine per connection)",
				when, g, n, baseG, baseG+goroutineSlack)
		}
		t.Logf("%s: %d goroutines, %d fds", when, g, p.FDs())
	}
	check("hold start")
	holdEnd := time.Now().Add(hold)
	for i := 1; i <= 3; i++ {
		time.Sleep(time.Until(holdEnd) / time.Duration(4-i))
		check(fmt.Sprintf("hold sample %d", i))
	}
	time.Sleep(time.Until(holdEnd))

	// A spread sample of connections still echoes after the hold.
	for i := 0; i < n; i += n / 150 {
		if err := conns[i].echo(fmt.Sprintf("still here %d", i), 10*time.Second); err != nil {
			t.Fatalf("connection %d after the hold: %v", i, err)
		}
	}

	for i, c := range conns {
		_ = c.Close()
		conns[i] = nil
	}
	var fds int
	var open float64
	c1mtest.Eventually(t, 30*time.Second, func() bool {
		fds, open = p.FDs(), p.Metric("c1m_connections")
		return fds <= baseFDs && open == 0
	}, func() string {
		return fmt.Sprintf("after the clients closed: %d fds (%d before the first connection), c1m_connections = %v", fds, baseFDs, open)
	})
	if got := p.Metric("c1m_sockets"); got != 0 {
		t.Fatalf("c1m_sockets = %v after every client left, want 0", got)
	}
	if got := p.Metric(`c1m_connections_closed_total{reason="peer_gone"}`); got != n {
		t.Fatalf(`c1m_connections_closed_total{reason="peer_gone"} = %v, want %d`, got, n)
	}
}
