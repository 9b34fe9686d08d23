//go:build linux

package server

import (
	"encoding/binary"
	"time"

	"c1m/wsproto"
)

// Heartbeats: every open connection is pinged once per PingInterval from
// the loop's timing wheel, with the send time as the ping's payload, so
// the pong gives the round trip without per-connection state; any bytes
// from the client count as life, and one silent for two intervals is
// closed with 1001 "idle timeout" when its next ping is due.

// startHeartbeat schedules a new connection's first ping at a random point
// of the interval, so that a million connections opened in a burst are
// pinged evenly spread, never all in one tick.
func (l *loop) startHeartbeat(fd int32) {
	l.wheel.schedule(l.s.table, fd, 1+uint32(l.random()%uint64(l.pingTicks())))
}

// heartbeat runs when an open connection's wheel entry is due: it closes
// the connection if it was silent for two intervals, else pings it and
// schedules the next ping.
func (l *loop) heartbeat(fd int32, sl *slot) {
	s := l.s
	pt := l.pingTicks()
	if l.now-sl.seen >= 2*pt {
		l.closeWith(fd, sl, wsproto.CloseGoingAway, "idle timeout", reasonIdle)
		return
	}
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(time.Since(s.started)))
	err := Conn{s: s, fd: fd, gen: sl.gen}.WriteMessage(wsproto.OpPing, p[:])
	if err == ErrSlowConsumer {
		l.closeWith(fd, sl, wsproto.CloseTryAgainLater, "slow consumer", reasonSlow)
		return
	}
	l.wheel.schedule(s.table, fd, pt)
}

// pingTicks is the heartbeat interval in wheel ticks.
func (l *loop) pingTicks() uint32 { return l.ticks(l.s.cfg.PingInterval) }

// OnPong records the round trip of our heartbeat ping, whose payload is
// the send time in nanoseconds since the server started. Unsolicited pongs
// (RFC 6455 §5.5.3 allows them) carry anything else and are ignored.
func (k *loopSink) OnPong(payload []byte) error {
	if len(payload) != 8 {
		return nil
	}
	sent := time.Duration(binary.BigEndian.Uint64(payload))
	rtt := time.Since(k.l.s.started) - sent
	if rtt >= 0 && rtt < time.Hour {
		k.l.s.m.pingRTT.Update(rtt.Seconds())
	}
	return nil
}
