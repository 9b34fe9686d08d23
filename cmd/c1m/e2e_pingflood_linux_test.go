//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"c1m/bench"
	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// floodResult is what one ping flood measured.
type floodResult struct {
	neighbourSent, neighbourGot int           // the neighbour's pings and pongs
	neighbourMax                time.Duration // its worst pong delay
	queuedMax                   float64       // c1m_queued_bytes, highest sample
	serverCPU                   float64       // the server's CPU seconds from the first ping to the last read
	flooderPongs                int           // pongs the flooder found when it finally read
	flooderLast                 string        // the payload of the last of them
	flooderClose                wsproto.StatusCode
}

// pingFlood runs one flood against p (started with --loops 1 --sndbuf
// 4096): a flooder that never reads sends n empty pings and then one
// "last" ping, while a neighbour on the same loop pings every 5 ms, one
// ping at a time, and times its pongs; c1m_queued_bytes is sampled throughout. When the server
// has read the whole flood, the flooder reads what it was sent.
func pingFlood(tb testing.TB, p *c1mtest.Proc, n int) floodResult {
	tb.Helper()
	var r floodResult
	flooder, err := c1mtest.DialWS(p.Addr, "/ws", c1mtest.DialOptions{RcvBuf: 4096, CountOnly: false, ReadTimeout: 20 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer flooder.Close()
	neighbour, err := c1mtest.DialWS(p.Addr, "/ws", c1mtest.DialOptions{ReadTimeout: 20 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer neighbour.Close()

	// The flood: n masked empty pings (6 bytes each), then one "last".
	var flood []byte
	for i := 0; i < n; i++ {
		flood = wsproto.AppendMaskedFrame(flood, true, wsproto.OpPing, nil, c1mtest.MaskKey)
	}
	flood = wsproto.AppendMaskedFrame(flood, true, wsproto.OpPing, []byte("last"), c1mtest.MaskKey)
	rx0 := p.Metric("c1m_bytes_received_total")
	cpu0, err := bench.ProcCPUSeconds(p.PID())
	if err != nil {
		tb.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The neighbour: a ping every 5 ms with its send time, each waiting
	// for its own pong before the next, so that no two of its pings are
	// ever unanswered at once (the server would answer only the later
	// one, as RFC 6455 §5.5.3 allows) and every ping must get a pong.
	var mu sync.Mutex
	var neighbourErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var ts [8]byte
			binary.BigEndian.PutUint64(ts[:], uint64(time.Now().UnixNano()))
			err := neighbour.SendFrame(true, wsproto.OpPing, ts[:])
			mu.Lock()
			r.neighbourSent++
			mu.Unlock()
			for err == nil {
				var e c1mtest.Event
				if e, err = neighbour.Next(); err == nil && e.Op == wsproto.OpPong && string(e.Data) == string(ts[:]) {
					d := time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(e.Data))))
					mu.Lock()
					r.neighbourGot++
					r.neighbourMax = max(r.neighbourMax, d)
					mu.Unlock()
					break
				}
			}
			if err != nil {
				mu.Lock()
				neighbourErr = fmt.Errorf("neighbour's ping %d: %w", r.neighbourSent, err)
				mu.Unlock()
				return
			}
		}
	}()
	floodErr := make(chan error, 1)
	go func() { floodErr <- flooder.Send(flood) }()

	// Wait until the server has read the whole flood (or closed the
	// flooder), sampling its queued bytes.
	want := rx0 + float64(len(flood))
	var rx float64
	c1mtest.Eventually(tb, 60*time.Second, func() bool {
		m := p.Scrape()
		r.queuedMax = max(r.queuedMax, m["c1m_queued_bytes"])
		rx = m["c1m_bytes_received_total"]
		return rx >= want || m["c1m_connections"] < 2
	}, func() string {
		return fmt.Sprintf("the server to read the flood: %.0f of %.0f bytes", rx-rx0, want-rx0)
	})
	if cpu1, err := bench.ProcCPUSeconds(p.PID()); err == nil {
		r.serverCPU = cpu1 - cpu0
	}
	// The neighbour goes on until it has had a few round trips (the
	// flood may be read before its first), then stops between two.
	c1mtest.Eventually(tb, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return r.neighbourGot >= 3 || neighbourErr != nil
	}, func() string { return fmt.Sprintf("the neighbour's round trips: %d", r.neighbourGot) })
	close(stop)
	wg.Wait()
	if neighbourErr != nil {
		tb.Fatal(neighbourErr)
	}
	neighbour.Close()
	if err := <-floodErr; err != nil {
		r.flooderClose = 1006
	}

	// The flooder reads at last: pongs, up to the one for "last", unless
	// the server closed it.
	for {
		e, err := flooder.Next()
		if err != nil {
			break
		}
		if e.Op == wsproto.OpClose {
			r.flooderClose = e.Code
			break
		}
		if e.Op == wsproto.OpPong {
			r.flooderPongs++
			r.flooderLast = string(e.Data)
			if r.flooderLast == "last" {
				break
			}
		}
	}
	return r
}

// TestPingFlood: one connection that never reads sends 300,000 empty pings.
// The server answers only the most recent unanswered ping, so it keeps at
// most one pong pending for it (its queued bytes stay within a pong's
// size), does not close it, and answers its last ping; meanwhile another
// connection on the same loop gets every one of its pongs.
func TestPingFlood(t *testing.T) {
	p := startServe(t, "--handler=echo", "--loops=1", "--sndbuf=4096")
	r := pingFlood(t, p, 300_000)
	t.Logf("neighbour: %d pongs of %d, worst delay %v; flooder: %d pongs, last %q, close %d; queued max %.0f B; server CPU %.2f s",
		r.neighbourGot, r.neighbourSent, r.neighbourMax, r.flooderPongs, r.flooderLast, r.flooderClose, r.queuedMax, r.serverCPU)
	if r.flooderClose != 0 {
		t.Errorf("the flooder was closed (%d): pongs must not make it a slow consumer", r.flooderClose)
	}
	if r.flooderLast != "last" {
		t.Errorf("the flooder's last pong is %q, want the answer to its last ping", r.flooderLast)
	}
	// 2 × a pong frame (one pending, one in flight) bounds what is queued.
	if r.queuedMax > 2*(2+125) {
		t.Errorf("c1m_queued_bytes reached %.0f during the flood, want at most one pending pong", r.queuedMax)
	}
	if r.neighbourGot < r.neighbourSent || r.neighbourSent == 0 {
		t.Errorf("the neighbour got %d pongs for %d pings", r.neighbourGot, r.neighbourSent)
	}
}

// BenchmarkPingFlood measures what TestPingFlood does, as figures: the
// neighbour's worst pong delay and the server's CPU for the flood.
//
//	go test -run '^$' -bench PingFlood -benchtime 1x -count 3 ./cmd/c1m
func BenchmarkPingFlood(b *testing.B) {
	p := startServe(b, "--handler=echo", "--loops=1", "--sndbuf=4096")
	var worst time.Duration
	var cpu float64
	for i := 0; i < b.N; i++ {
		r := pingFlood(b, p, 300_000)
		if r.flooderClose != 0 {
			b.Logf("flooder closed with %d", r.flooderClose)
		}
		worst = max(worst, r.neighbourMax)
		cpu += r.serverCPU
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "neighbour-worst-pong-ms")
	b.ReportMetric(cpu/float64(b.N), "server-cpu-s/flood")
}
