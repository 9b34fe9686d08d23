//go:build linux

package app

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"c1m/broadcast"
	"c1m/internal/c1mtest"
	"c1m/server"
	"c1m/wsproto"
)

// TestSlowConsumers: 100 connections of which 5 never read (4 KiB receive
// buffers set before connect), 5,000 messages of 1 KiB to everyone. The
// other 95 get all 5,000 in order under both policies; the 5 are closed
// with 1013 (close) or stay and get gap notices that, with what they did
// receive, account for every seq exactly once (drop); and the bytes queued
// in the server never pass the cap times the 5 plus a small constant.
func TestSlowConsumers(t *testing.T) {
	for _, policy := range []broadcast.Policy{broadcast.PolicyClose, broadcast.PolicyDrop} {
		t.Run(policy.String(), func(t *testing.T) { testSlowConsumers(t, policy) })
	}
}

func testSlowConsumers(t *testing.T, policy broadcast.Policy) {
	const (
		fast     = 95
		slow     = 5
		messages = 5000
		maxPend  = 64 << 10
		// window is how many messages the publisher may run ahead of the
		// slowest fast reader. The fast readers are goroutines on 2
		// shared cores: unpaced, a burst of 5,000 KiB could leave one of
		// them over the cap for a moment, and the test is about the 5
		// that never read, not about the scheduler.
		window = 32
		// slack is the constant in the bound on queued bytes, beside
		// maxPend per slow connection (which the server enforces exactly:
		// a frame that would take a queue past the cap is refused).
		// It covers what can be queued beyond that: for the fast readers,
		// at most window frames each are outstanding, ~33 KiB, which fits
		// their loopback receive window (tcp_rmem default 128 KiB) so
		// their writes complete at once and they queue at most the odd
		// partial frame; for the slow ones, heartbeat pings (control
		// frames may use twice the cap) and, under close, the close frame
		// after the truncated queue. 64 KiB is generous for both and still
		// a fifth of 5 × cap.
		slack = 64 << 10
	)
	ta := startApp(t, Config{Hub: broadcast.Config{Policy: policy}},
		// A long linger keeps a closed slow consumer's close frame
		// waiting for it until it reads, however long the run takes.
		server.Config{MaxPending: maxPend, CloseLinger: time.Minute}, APIConfig{})
	hub := ta.app.Hub()

	slows := make([]*rawApp, slow)
	for i := range slows {
		slows[i] = dialRawApp(t, ta.s, "slow"+strconv.Itoa(i), 4096)
	}
	type fastReader struct {
		c    *websocket.Conn
		got  atomic.Int64
		err  error
		done chan struct{}
	}
	fasts := make([]*fastReader, fast)
	for i := range fasts {
		fasts[i] = &fastReader{c: ta.dial(t, "fast"+strconv.Itoa(i)), done: make(chan struct{})}
	}
	c1mtest.Eventually(t, 5*time.Second, func() bool { return hub.Stats().Users == fast+slow }, c1mtest.Say("100 users registered"))
	for _, fr := range fasts {
		go func() {
			defer close(fr.done)
			for n := uint64(1); n <= messages; n++ {
				_ = fr.c.SetReadDeadline(time.Now().Add(30 * time.Second))
				_, b, err := fr.c.ReadMessage()
				if err != nil {
					fr.err = fmt.Errorf("after %d messages: %w", n-1, err)
					return
				}
				var f frame
				var p struct{ N uint64 }
				if err := json.Unmarshal(b, &f); err != nil || f.Type != "message" || !f.All || f.Seq != n || json.Unmarshal(f.Data, &p) != nil || p.N != n {
					fr.err = fmt.Errorf("message %d: got %.100s", n, b)
					return
				}
				fr.got.Store(int64(n))
			}
		}()
	}

	// Sample the queued bytes all through the run.
	var maxQueued atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if q := ta.s.Stats().Queued; q > maxQueued.Load() {
				maxQueued.Store(q)
			}
			select {
			case <-stop:
				return
			default:
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()

	pad := strings.Repeat("x", 1000)
	start := time.Now()
	for n := 1; n <= messages; n++ {
		// Wait while the slowest fast reader makes progress; 30 s without
		// any (the readers' own read deadline) means they are stuck.
		low, since := int64(-1), time.Now()
		for {
			m := slowest(fasts, func(fr *fastReader) int64 { return fr.got.Load() })
			if m >= int64(n-window) {
				break
			}
			if m != low {
				low, since = m, time.Now()
			} else if time.Since(since) > 30*time.Second {
				t.Fatalf("the fast readers made no progress for 30 s before message %d", n)
			}
			time.Sleep(50 * time.Microsecond)
		}
		data := `{"n":` + strconv.Itoa(n) + `,"pad":"` + pad + `"}`
		if seq, err := hub.Publish(broadcast.ToAll(), "feed", []byte(data)); err != nil || seq != uint64(n) {
			t.Fatalf("publish %d: seq %d, %v", n, seq, err)
		}
	}
	for i, fr := range fasts {
		<-fr.done
		if fr.err != nil {
			t.Fatalf("fast reader %d: %v", i, fr.err)
		}
	}
	close(stop)
	sampler.Wait()
	bound := int64(maxPend*slow + slack)
	t.Logf("%s: 5,000 messages to 95 fast readers in %v; max queued %d bytes (bound %d = 5 × %d + %d)",
		policy, time.Since(start), maxQueued.Load(), bound, maxPend, slack)
	if q := maxQueued.Load(); q > bound {
		t.Fatalf("queued bytes reached %d, over 5 × cap + %d = %d", q, slack, bound)
	}
	st := hub.Stats()

	if policy == broadcast.PolicyClose {
		if st.SlowClosed != slow {
			t.Fatalf("hub SlowClosed = %d, want %d", st.SlowClosed, slow)
		}
		if got := metric(t, ta.s, `c1m_slow_consumers_total{policy="close"}`); got != slow {
			t.Fatalf("c1m_slow_consumers_total = %v, want %d", got, slow)
		}
		if got := metric(t, ta.s, `c1m_connections_closed_total{reason="slow_consumer"}`); got != slow {
			t.Fatalf("c1m_connections_closed_total{slow_consumer} = %v, want %d", got, slow)
		}
		if st.Dropped != 0 {
			t.Fatalf("hub Dropped = %d under close", st.Dropped)
		}
		// Now the 5 read: a prefix of the stream in order, then 1013,
		// then EOF; and their sockets go away.
		for i, c := range slows {
			next := uint64(1)
			closed := false
			for k := 0; k <= messages && !closed; k++ {
				m, ok := c.next()
				switch {
				case !ok:
					t.Fatalf("slow %d: EOF after seq %d without a close frame", i, next-1)
				case m.Op == wsproto.OpClose:
					if m.Code != wsproto.CloseTryAgainLater {
						t.Fatalf("slow %d: close %d, want 1013", i, m.Code)
					}
					closed = true
				default:
					var f frame
					if json.Unmarshal(m.Data, &f) != nil || f.Type != "message" || f.Seq != next {
						t.Fatalf("slow %d: want seq %d, got %.100s", i, next, m.Data)
					}
					next++
				}
			}
			if !closed {
				t.Fatalf("slow %d: no close frame", i)
			}
			t.Logf("slow %d: got seq 1..%d, then 1013", i, next-1)
			if _, ok := c.next(); ok {
				t.Fatalf("slow %d: data after the close frame", i)
			}
			c.Close()
		}
		c1mtest.Eventually(t, 10*time.Second, func() bool {
			s := ta.s.Stats()
			return s.Open == fast && s.Sockets == fast
		}, c1mtest.Say("the slow sockets to go"))
		return
	}

	// Drop: nobody was closed; the 5 missed messages and still hold
	// about a cap's worth each.
	if st.SlowClosed != 0 || ta.s.Stats().Open != fast+slow {
		t.Fatalf("under drop: SlowClosed %d, open %d; want 0, %d", st.SlowClosed, ta.s.Stats().Open, fast+slow)
	}
	if st.Dropped == 0 {
		t.Fatalf("under drop: nothing dropped; the slow readers were not slow")
	}
	if got := metric(t, ta.s, `c1m_dropped_messages_total`); got != float64(st.Dropped) {
		t.Fatalf("c1m_dropped_messages_total = %v, want %d", got, st.Dropped)
	}
	// The 5 start reading. Once their queues are empty, one more message
	// makes the hub send each its last gap notice, then that message.
	type slowLog struct {
		events []frame
		err    error
	}
	logs := make([]slowLog, slow)
	var readers sync.WaitGroup
	for i, c := range slows {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for k := 0; k <= 2*messages+2; k++ {
				m, ok := c.next()
				if !ok || m.Op == wsproto.OpClose {
					logs[i].err = fmt.Errorf("closed (close %v, ok %v) after %d events", m.Code, ok, len(logs[i].events))
					return
				}
				var f frame
				if err := json.Unmarshal(m.Data, &f); err != nil {
					logs[i].err = fmt.Errorf("%q: %w", m.Data, err)
					return
				}
				logs[i].events = append(logs[i].events, f)
				if f.Type == "message" && f.Seq == messages+1 {
					return
				}
			}
			logs[i].err = fmt.Errorf("no seq %d after %d events", messages+1, len(logs[i].events))
		}()
	}
	c1mtest.Eventually(t, 20*time.Second, func() bool { return ta.s.Stats().Queued == 0 }, c1mtest.Say("the slow readers to drain their queues"))
	if seq, err := hub.Publish(broadcast.ToAll(), "feed", []byte(`{"n":5001}`)); err != nil || seq != messages+1 {
		t.Fatalf("publish the last message: seq %d, %v", seq, err)
	}
	readers.Wait()
	var missed uint64
	for i, l := range logs {
		if l.err != nil {
			t.Fatalf("slow %d: %v", i, l.err)
		}
		// Walk the stream: every seq 1..5001 is either received or inside
		// exactly one gap notice, in order, and each notice comes right
		// before the next message.
		next := uint64(1)
		gaps := 0
		for _, f := range l.events {
			switch f.Type {
			case "message":
				if !f.All || f.Seq != next {
					t.Fatalf("slow %d: message seq %d, want %d", i, f.Seq, next)
				}
				next++
			case "gap":
				if !f.All || f.Room == nil || *f.Room != "*" || f.FromSeq != next || f.ToSeq < f.FromSeq || f.Missed != f.ToSeq-f.FromSeq+1 {
					t.Fatalf("slow %d: gap %+v, want one from seq %d", i, f, next)
				}
				missed += f.Missed
				next = f.ToSeq + 1
				gaps++
			default:
				t.Fatalf("slow %d: unexpected %+v", i, f)
			}
		}
		if next != messages+2 {
			t.Fatalf("slow %d: the stream ends at %d, want %d", i, next-1, messages+1)
		}
		if gaps == 0 {
			t.Fatalf("slow %d: no gap notice", i)
		}
	}
	st = hub.Stats()
	if st.Dropped != int64(missed) {
		t.Fatalf("hub Dropped = %d, gap notices account for %d", st.Dropped, missed)
	}
	if got := metric(t, ta.s, `c1m_slow_consumers_total{policy="drop"}`); got != float64(st.Dropped) {
		t.Fatalf(`c1m_slow_consumers_total{policy="drop"} = %v, want %d`, got, st.Dropped)
	}
	if ta.s.Stats().Open != fast+slow {
		t.Fatalf("open %d after the run, want %d", ta.s.Stats().Open, fast+slow)
	}
}

// slowest returns the smallest of f over rs.
func slowest[T any](rs []T, f func(T) int64) int64 {
	m := int64(-1)
	for _, r := range rs {
		if v := f(r); m < 0 || v < m {
			m = v
		}
	}
	return m
}
