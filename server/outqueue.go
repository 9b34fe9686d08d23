package server

import "sync"

// outQueue holds what a connection's socket did not take yet: references to
// immutable frames (a broadcast's encode-once bytes) or private copies.
// bufs[head][off:] goes out next. It exists only while bytes are pending and
// goes back to its pool when the queue drains.
//
// Concurrency: guarded by the owning slot's mu.
type outQueue struct {
	bufs  [][]byte
	head  int // index of the next buffer to write
	off   int // bytes of bufs[head] already written
	bytes int // total pending bytes
}

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
	q.bufs = q.bufs[:0]
	q.head, q.off, q.bytes = 0, 0, 0
	outQueuePool.Put(q)
}

// empty reports whether nothing is pending.
func (q *outQueue) empty() bool { return q.head == len(q.bufs) }

// pending returns the buffers still to write; the first starts at off.
func (q *outQueue) pending() [][]byte { return q.bufs[q.head:] }

// push appends b; a control frame goes ahead of queued data, but never
// into the middle of a frame already partly written.
func (q *outQueue) push(b []byte, control bool) {
	q.bytes += len(b)
	if q.head > 0 && q.head*2 >= len(q.bufs) {
		// Compact so that the slice does not creep forward forever.
		n := copy(q.bufs, q.bufs[q.head:])
		clear(q.bufs[n:])
		q.bufs = q.bufs[:n]
		q.head = 0
	}
	if !control || q.empty() {
		q.bufs = append(q.bufs, b)
		return
	}
	at := q.head
	if q.off > 0 {
		at++
	}
	q.bufs = append(q.bufs, nil)
	copy(q.bufs[at+1:], q.bufs[at:])
	q.bufs[at] = b
}

// truncateAfterHead drops every queued frame except one already partly
// written, for a close: RFC 6455 §5.5.1, after sending a Close frame the
// endpoint MUST NOT send any more data frames.
func (q *outQueue) truncateAfterHead() {
	keep := q.head
	if q.off > 0 {
		keep++
	}
	clear(q.bufs[keep:])
	q.bufs = q.bufs[:keep]
	q.bytes = 0
	if keep > q.head {
		q.bytes = len(q.bufs[q.head]) - q.off
	}
}

// advance consumes n written bytes from the front.
func (q *outQueue) advance(n int) {
	q.bytes -= n
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
	if q.empty() {
		q.bufs = q.bufs[:0]
		q.head = 0
	}
}
