//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// cmdReq is a command waiting for the loop, with where to answer.
type cmdReq struct {
	cmd   Command
	reply chan Dump
}

// Do runs cmd on the worker's loop and returns its dump (the zero Dump for
// commands other than dump). Safe from any goroutine.
func (w *Worker) Do(cmd Command) (Dump, error) {
	switch cmd.Cmd {
	case "start":
		w.startOnce.Do(func() { close(w.startCh) })
		return Dump{}, nil
	case "dump", "slow", "join", "churn", "publish", "clock":
	default:
		return Dump{}, fmt.Errorf("cannot run worker command %q: want start, dump, slow, join, churn, publish or clock", cmd.Cmd)
	}
	r := cmdReq{cmd: cmd, reply: make(chan Dump, 1)}
	w.cmds <- r
	_ = w.p.Wake()
	select {
	case d := <-r.reply:
		return d, nil
	case <-time.After(30 * time.Second):
		return Dump{}, fmt.Errorf("cannot run worker command %q: the loop did not answer in 30s", cmd.Cmd)
	}
}

// runCommands executes the commands waiting for the loop.
func (w *Worker) runCommands() {
	for {
		select {
		case r := <-w.cmds:
			var d Dump
			switch r.cmd.Cmd {
			case "dump":
				d = w.dump(r.cmd.Expect, r.cmd.Reset)
			case "slow":
				w.makeSlow(r.cmd.Fraction)
			case "join":
				w.joinRooms(r.cmd.RoomSize)
			case "churn":
				w.churnRate = r.cmd.Rate
				w.churnLast = time.Now()
				w.churnDue = 0
			case "publish":
				w.startPublish(r.cmd.RoomSize, r.cmd.Count, r.cmd.Rate, r.cmd.Size, time.Now())
			case "clock":
				w.clockShift = int64(w.cfg.ClockSkew) - r.cmd.Offset
			}
			r.reply <- d
		default:
			return
		}
	}
}

func (w *Worker) dump(expect int, reset bool) Dump {
	d := Dump{Type: "dump", Latency: w.lat.Export(), Probe: w.probe.Export(), Closes: map[int]int{}, Churned: w.churned,
		Errors: w.errFrames, Early: w.early}
	if w.cross.TotalCount() > 0 {
		d.Cross = w.cross.Export()
	}
	for k, v := range w.closes {
		d.Closes[k] = v
	}
	for fd := range w.table {
		c := &w.table[fd]
		if c.state != csOpen {
			continue
		}
		d.Open++
		switch {
		case c.flags&ccSlow != 0:
			d.Slow++
		case c.flags&ccReconnected != 0:
			// Opened by churn during the phase: it cannot have had the
			// messages sent before, so it is not judged.
			d.Reconnected++
		case int(c.bcast) == expect:
			d.Complete++
		case int(c.bcast) < expect:
			d.Short++
		default:
			d.Extra++
		}
		if reset {
			c.bcast = 0
			c.flags &^= ccReconnected
		}
	}
	if reset {
		w.lat.Reset()
		w.probe.Reset()
		w.cross.Reset()
		w.errFrames = 0
		clear(w.closes)
		w.churned = 0
		w.early = 0
	}
	return d
}

// makeSlow stops reading on every k-th open connection (k = 1/fraction):
// they leave the epoll set, so the kernel buffers fill and the server sees
// a client that stopped reading.
func (w *Worker) makeSlow(fraction float64) {
	if fraction <= 0 {
		return
	}
	w.cfg.SlowFraction = fraction
	for fd := range w.table {
		c := &w.table[fd]
		if c.state == csOpen && w.slowCandidate(int(c.idx)) {
			c.flags |= ccSlow
			_ = w.p.Del(fd)
		}
	}
}

// joinRooms sends every open connection a join for room "r<n>", n its
// global index divided by size, so that rooms span workers consistently.
func (w *Worker) joinRooms(size int) {
	if size < 1 {
		return
	}
	key := [4]byte{7, 7, 7, 7}
	for fd := range w.table {
		c := &w.table[fd]
		if c.state != csOpen || c.flags&ccSlow != 0 {
			continue
		}
		msg := strconv.AppendInt([]byte(`{"type":"join","room":"r`), int64((w.cfg.First+int(c.idx))/size), 10)
		msg = append(msg, `"}`...)
		w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpText, msg, key)
		_, _ = unix.Write(fd, w.wbuf)
	}
}

// probeEvery is how often each probe connection pings.
const probeEvery = 20 * time.Millisecond

// probePings sends a ping carrying the send time on every probe.
func (w *Worker) probePings(now time.Time) {
	if w.cfg.Probes == 0 || now.Sub(w.lastProbe) < probeEvery {
		return
	}
	w.lastProbe = now
	var p [8]byte
	key := [4]byte{3, 1, 4, 1}
	for fd := range w.table {
		c := &w.table[fd]
		if c.state != csOpen || c.flags&ccProbe == 0 {
			continue
		}
		binary.BigEndian.PutUint64(p[:], uint64(time.Now().UnixNano()))
		w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpPing, p[:], key)
		_, _ = unix.Write(fd, w.wbuf)
	}
}

// churnStep closes and reopens connections at churnRate per second; it
// returns how many new attempts it started.
func (w *Worker) churnStep(now time.Time) int {
	if w.churnRate <= 0 {
		return 0
	}
	w.churnDue += now.Sub(w.churnLast).Seconds() * float64(w.churnRate)
	w.churnLast = now
	started := 0
	frame := wsproto.AppendMaskedFrame(nil, true, wsproto.OpClose, []byte{0x03, 0xe8}, [4]byte{9, 9, 9, 9})
	for tries := 0; w.churnDue >= 1 && tries < 64; tries++ {
		w.rng ^= w.rng << 13
		w.rng ^= w.rng >> 7
		w.rng ^= w.rng << 17
		fd := int(w.rng % uint64(len(w.table)))
		c := &w.table[fd]
		if c.state != csOpen || c.flags&(ccProbe|ccSlow) != 0 {
			continue
		}
		idx, round := int(c.idx), c.round+1
		_, _ = unix.Write(fd, frame)
		if c.rd != nil {
			c.rd.Reset()
		}
		*c = cconn{}
		_ = unix.Close(fd)
		w.open.Add(-1)
		w.churnDue--
		w.churned++
		if w.startConnRound(idx, 0, round, true) {
			started++
		}
	}
	if w.churnDue > float64(w.churnRate) {
		w.churnDue = float64(w.churnRate) // do not bank more than a second
	}
	return started
}

// slowRcvbuf is the receive buffer of the slow scenario's clients: small,
// so that a client that stops reading is full after a few KiB and the
// server's own cap, not the kernel, decides what happens to it.
const slowRcvbuf = 4096

// slowCandidate reports whether connection idx belongs to the slow set:
// every k-th one (k = 1/SlowFraction), never a probe.
func (w *Worker) slowCandidate(idx int) bool {
	f := w.cfg.SlowFraction
	if f <= 0 || idx < w.cfg.Probes {
		return false
	}
	return idx%max(int(1/f+0.5), 1) == 0
}
