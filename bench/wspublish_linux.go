//go:build linux

package bench

import (
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"c1m/wsproto"
)

// wsPublish is a worker's "publish" command under way: its connections
// send room_message frames, each room's from one member, paced. Loop-only.
type wsPublish struct {
	conns []pubConn
	rate  float64 // frames per second from this worker
	due   float64 // frames owed by the pace
	last  time.Time
	start time.Time
	left  int // frames still to send
	count int // frames per connection in all
	next  int // index in conns of the next frame
	round int // message number k of the current round, from 1
	pad   string
	msg   []byte // scratch: the frame's JSON before masking
}

// pubConn is one room's publishing connection and its unsent bytes (a
// short write; nil when none).
type pubConn struct {
	fd, room int
	idx      int32
	pending  []byte
}

// startPublish begins a "publish" command: count frames to each room of
// size whose publisher this worker holds, paced so that all workers
// together send rate per second (this worker's share is its rooms'), each
// frame's data of about dataSize bytes.
func (w *Worker) startPublish(size, count, rate, dataSize int, now time.Time) {
	w.pubSent.Store(0)
	w.pubFailed.Store(0)
	w.pubDone.Store(false)
	w.pub = nil
	if size < 1 || count < 1 {
		w.pubDone.Store(true)
		return
	}
	total := w.cfg.total()
	rooms := (total + size - 1) / size
	want := map[int32]int{} // local index → room
	for r := 0; r < rooms; r++ {
		g := publisherIndex(r, size, total)
		if g >= w.cfg.First && g < w.cfg.First+w.cfg.Conns {
			want[int32(g-w.cfg.First)] = r
		}
	}
	ps := &wsPublish{last: now, start: now, round: 1}
	for fd := range w.table {
		c := &w.table[fd]
		if r, ok := want[c.idx]; ok && c.state == csOpen && c.flags&ccSlow == 0 {
			ps.conns = append(ps.conns, pubConn{fd: fd, room: r, idx: c.idx})
			delete(want, c.idx)
		}
	}
	// Rooms whose publisher is not open cannot be published to; they
	// count as failed, their members as short.
	w.pubFailed.Add(int64(len(want) * count))
	ps.left, ps.count = len(ps.conns)*count, count
	ps.rate = float64(max(rate, 1)) * float64(len(ps.conns)) / float64(rooms)
	// The data as the API publisher writes it: {"bt":…,"o":…,"k":…,"pad":"…"}.
	ps.pad = strings.Repeat("x", max(dataSize-len(`{"bt":1764115200123456789,"o":65535,"k":123456,"pad":""}`), 0))
	if ps.left == 0 {
		w.pubDone.Store(true)
		return
	}
	w.pub = ps
}

// publishStep sends the frames the pace owes. A connection whose socket is
// full keeps its unsent bytes and stops the step: the server's reading
// pace is the publishers' limit, as it is for real clients.
func (w *Worker) publishStep(now time.Time) {
	ps := w.pub
	if ps == nil {
		return
	}
	ps.due += now.Sub(ps.last).Seconds() * ps.rate
	ps.last = now
	key := [4]byte{2, 7, 1, 8}
	for ps.due >= 1 && ps.left > 0 {
		pc := &ps.conns[ps.next]
		c := &w.table[pc.fd]
		if c.state != csOpen || c.idx != pc.idx {
			// The connection is gone (closed by the server): its
			// frames of this round and the later ones cannot be sent.
			lost := ps.count - ps.round + 1
			w.pubFailed.Add(int64(lost))
			ps.left -= lost
			ps.conns = append(ps.conns[:ps.next], ps.conns[ps.next+1:]...)
			if len(ps.conns) == 0 {
				break
			}
			if ps.next == len(ps.conns) {
				ps.next = 0
				ps.round++
			}
			continue
		}
		if len(pc.pending) > 0 {
			n, _ := unix.Write(pc.fd, pc.pending)
			if n > 0 {
				pc.pending = pc.pending[n:]
			}
			if len(pc.pending) > 0 {
				break
			}
			pc.pending = nil
		}
		ps.msg = append(ps.msg[:0], `{"type":"room_message","room":"r`...)
		ps.msg = strconv.AppendInt(ps.msg, int64(pc.room), 10)
		ps.msg = append(ps.msg, `","data":{"bt":`...)
		// The send time on the publisher's clock, as the receivers
		// correct theirs to it (zero shift on the orchestrator's box).
		ps.msg = strconv.AppendInt(ps.msg, time.Now().UnixNano()+w.clockShift, 10)
		ps.msg = append(ps.msg, `,"o":`...)
		ps.msg = strconv.AppendInt(ps.msg, int64(w.dsts[c.target].Port), 10)
		ps.msg = append(ps.msg, `,"k":`...)
		ps.msg = strconv.AppendInt(ps.msg, int64(ps.round), 10)
		ps.msg = append(ps.msg, `,"pad":"`...)
		ps.msg = append(ps.msg, ps.pad...)
		ps.msg = append(ps.msg, `"}}`...)
		w.wbuf = wsproto.AppendMaskedFrame(w.wbuf[:0], true, wsproto.OpText, ps.msg, key)
		n, _ := unix.Write(pc.fd, w.wbuf)
		if n < len(w.wbuf) {
			pc.pending = append([]byte(nil), w.wbuf[max(n, 0):]...)
		}
		ps.due--
		ps.left--
		w.pubSent.Add(1)
		ps.next++
		if ps.next == len(ps.conns) {
			ps.next = 0
			ps.round++
		}
	}
	if ps.left <= 0 || len(ps.conns) == 0 {
		w.pubNanos.Store(int64(now.Sub(ps.start)))
		w.pubDone.Store(true)
		w.pub = nil
	}
}
