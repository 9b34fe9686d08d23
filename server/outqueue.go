package server

import (
	"sync"

	"c1m/wsproto"
)

// outQueue holds what a connection's socket did not take yet. It exists
// only while bytes are pending and goes back to its pool when the queue
// drains.
//
// Data frames (messages, a broadcast's encode-once bytes, the close frame)
// wait in bufs, whole and in order: bufs[head][off:] goes out next, and a
// frame partly written stays whole with its progress in off, so nothing is
// ever put inside it (RFC 6455 §5.4: control frames go between frames).
//
// Control frames do not go into bufs. At most one pong and one ping wait
// in ctl, written before the next data frame that has not started: a
// newer pong replaces a pending one, since RFC 6455 §5.5.3 lets an endpoint
// answer only the most recent of several pings. So a ping flood costs a
// fixed few hundred bytes, not an entry per ping, and queueing a control
// frame is O(1). While ctl is on the wire (ctlOff > 0) a newer control
// frame waits in next.
//
// Concurrency: guarded by the owning slot's mu.
type outQueue struct {
	bufs  [][]byte
	head  int // index of the next data frame to write
	off   int // bytes of bufs[head] already written
	bytes int // pending bytes, data and control: what c1m_queued_bytes counts

	ctl    ctlFrames // control frames for the next gap between data frames
	next   ctlFrames // control frames that arrived while ctl was being written
	ctlOff int       // bytes of ctl already written
}

// ctlFrames is one pending pong and one pending ping, each a whole frame.
type ctlFrames struct {
	pong  [2 + wsproto.MaxControlPayload]byte
	ping  [2 + 8]byte
	pongN uint8 // bytes of pong; 0 when none
	pingN uint8 // bytes of ping; 0 when none
}

func (c *ctlFrames) size() int { return int(c.pongN) + int(c.pingN) }

// entryOverhead is what one queued data frame costs besides its bytes:
// its slice header in bufs and its share of the allocation behind it. It
// is counted in the pending budget (cost), so that many tiny frames cannot
// hold far more memory than MaxPending says.
const entryOverhead = 32

// maxPooledBufs keeps a queue that once grew very long out of the pool, so
// that the pool never pins large slices.
const maxPooledBufs = 64

var outQueuePool = sync.Pool{New: func() any { return &outQueue{bufs: make([][]byte, 0, 8)} }}

func getOutQueue() *outQueue { return outQueuePool.Get().(*outQueue) }

func putOutQueue(q *outQueue) {
	if cap(q.bufs) > maxPooledBufs {
		return
	}
	clear(q.bufs)
	bufs := q.bufs[:0]
	*q = outQueue{bufs: bufs}
	outQueuePool.Put(q)
}

// empty reports whether nothing is pending.
func (q *outQueue) empty() bool {
	return q.head == len(q.bufs) && q.ctl.size() == 0 && q.next.size() == 0
}

// frames returns how many data frames are pending, the one in progress
// included.
func (q *outQueue) frames() int { return len(q.bufs) - q.head }

// cost is what the queue holds against Config.MaxPending: its bytes plus
// a fixed overhead per pending data frame.
func (q *outQueue) cost() int { return q.bytes + q.frames()*entryOverhead }

// push appends the data frame b.
func (q *outQueue) push(b []byte) {
	q.bytes += len(b)
	if q.head > 0 && q.head*2 >= len(q.bufs) {
		// Compact so that the slice does not creep forward forever.
		n := copy(q.bufs, q.bufs[q.head:])
		clear(q.bufs[n:])
		q.bufs = q.bufs[:n]
		q.head = 0
	}
	q.bufs = append(q.bufs, b)
}

// pendingCtl returns the control frames that may be set now: ctl while
// none of it is on the wire, else next.
func (q *outQueue) pendingCtl() *ctlFrames {
	if q.ctlOff > 0 {
		return &q.next
	}
	return &q.ctl
}

// setPong makes the pong answering payload (≤ 125 bytes) the pending one,
// replacing a pong not yet started.
func (q *outQueue) setPong(payload []byte) {
	c := q.pendingCtl()
	q.bytes -= int(c.pongN)
	f := wsproto.AppendHeader(c.pong[:0], true, wsproto.OpPong, len(payload))
	f = append(f, payload...)
	c.pongN = uint8(len(f))
	q.bytes += len(f)
}

// setPing makes the heartbeat ping with payload (8 bytes: the send time)
// the pending one, replacing a ping not yet started.
func (q *outQueue) setPing(payload []byte) {
	c := q.pendingCtl()
	q.bytes -= int(c.pingN)
	f := wsproto.AppendHeader(c.ping[:0], true, wsproto.OpPing, len(payload))
	f = append(f, payload...)
	c.pingN = uint8(len(f))
	q.bytes += len(f)
}

// appendPending appends the pending bytes to dst in the order they must go
// out, at most max slices: the rest of a data frame in progress, then the
// control frames, then whole data frames. It allocates nothing when dst
// has room.
func (q *outQueue) appendPending(dst [][]byte, max int) [][]byte {
	i := q.head
	if q.off > 0 {
		dst = append(dst, q.bufs[i][q.off:])
		i++
	}
	if len(dst) < max && q.ctl.size() > 0 {
		all := q.ctl.size()
		// pong then ping: copy-free views of the two arrays.
		if q.ctlOff < int(q.ctl.pongN) {
			dst = append(dst, q.ctl.pong[q.ctlOff:q.ctl.pongN])
			if q.ctl.pingN > 0 && len(dst) < max {
				dst = append(dst, q.ctl.ping[:q.ctl.pingN])
			}
		} else if q.ctlOff < all {
			dst = append(dst, q.ctl.ping[q.ctlOff-int(q.ctl.pongN):q.ctl.pingN])
		}
	}
	for ; i < len(q.bufs) && len(dst) < max; i++ {
		if len(q.bufs[i]) > 0 {
			dst = append(dst, q.bufs[i])
		}
	}
	return dst
}

// advance consumes n written bytes in the order of appendPending.
func (q *outQueue) advance(n int) {
	q.bytes -= n
	if q.off > 0 {
		rest := len(q.bufs[q.head]) - q.off
		if n < rest {
			q.off += n
			return
		}
		n -= rest
		q.bufs[q.head] = nil
		q.head++
		q.off = 0
	}
	if sz := q.ctl.size(); sz > 0 {
		rest := sz - q.ctlOff
		if n < rest {
			q.ctlOff += n
			return
		}
		n -= rest
		// The control frames that waited for these take their place, for
		// the next gap between data frames.
		q.ctl, q.next, q.ctlOff = q.next, ctlFrames{}, 0
	}
	for n > 0 {
		rest := len(q.bufs[q.head]) - q.off
		if n < rest {
			q.off += n
			return
		}
		n -= rest
		q.bufs[q.head] = nil
		q.head++
		q.off = 0
	}
	if q.head == len(q.bufs) {
		q.bufs = q.bufs[:0]
		q.head = 0
	}
}

// truncate drops every pending data frame except one already partly
// written, and the control frames not yet started, for a close that must
// not wait behind them (an error: RFC 6455 §5.5.1, after sending a Close
// frame an endpoint sends no more data). It returns how many data frames
// it dropped.
func (q *outQueue) truncate() int {
	keep := q.head
	if q.off > 0 {
		keep++
	}
	dropped := len(q.bufs) - keep
	for _, b := range q.bufs[keep:] {
		q.bytes -= len(b)
	}
	clear(q.bufs[keep:])
	q.bufs = q.bufs[:keep]
	q.bytes -= q.next.size()
	q.next = ctlFrames{}
	if q.ctlOff == 0 {
		q.bytes -= q.ctl.size()
		q.ctl = ctlFrames{}
	}
	return dropped
}
