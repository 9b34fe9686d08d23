//go:build linux

package server

import (
	"fmt"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// spinHandler holds its loop for spin on every message, as a handler or a
// flood of frames would.
type spinHandler struct {
	Echo
	spin time.Duration
}

func (h spinHandler) OnMessage(c Conn, op wsproto.OpCode, p []byte) error {
	for t0 := time.Now(); time.Since(t0) < h.spin; {
	}
	return c.WriteMessage(op, p)
}

// TestLoopBusyCountsCallbacks: the time a loop spends in its event
// callbacks (reading, parsing, the handler) counts in
// c1m_loop_busy_seconds_total, not only its timers.
func TestLoopBusyCountsCallbacks(t *testing.T) {
	const spin, msgs = 50 * time.Millisecond, 4
	s := startServer(t, Config{Loops: 1, Handler: spinHandler{spin: spin}})
	c := dialUpgraded(t, s)
	before := s.m.loopBusy[0].Get()
	for i := 0; i < msgs; i++ {
		c.sendFrame(true, wsproto.OpText, []byte("x"))
		if !c.readEvent() {
			t.Fatal("no echo")
		}
	}
	// The last echo leaves before its loop turn ends and is counted: wait
	// for the count, not for a time.
	var busy time.Duration
	c1mtest.Eventually(t, 5*time.Second, func() bool {
		busy = time.Duration((s.m.loopBusy[0].Get() - before) * float64(time.Second))
		return busy >= msgs*spin
	}, func() string {
		return fmt.Sprintf("c1m_loop_busy_seconds_total rose by %v over %d messages that held the loop %v each; want at least %v", busy, msgs, spin, msgs*spin)
	})
}
