package server

import (
	"bytes"
	"testing"
)

// drain concatenates what the queue would write, in order.
func drain(q *outQueue) []byte {
	var out []byte
	for i, b := range q.pending() {
		if i == 0 {
			b = b[q.off:]
		}
		out = append(out, b...)
	}
	return out
}

func TestOutQueueOrder(t *testing.T) {
	f := func(ops func(q *outQueue), want string, wantBytes int) {
		t.Helper()
		q := getOutQueue()
		defer putOutQueue(q)
		ops(q)
		if got := drain(q); !bytes.Equal(got, []byte(want)) {
			t.Fatalf("pending %q, want %q", got, want)
		}
		if q.bytes != wantBytes {
			t.Fatalf("bytes %d, want %d", q.bytes, wantBytes)
		}
	}
	// Data keeps its order.
	f(func(q *outQueue) { q.push([]byte("aa"), false); q.push([]byte("bb"), false) }, "aabb", 4)
	// A control frame jumps ahead of unwritten data.
	f(func(q *outQueue) {
		q.push([]byte("aa"), false)
		q.push([]byte("bb"), false)
		q.push([]byte("P"), true)
	}, "Paabb", 5)
	// ...but not into a frame already partly written.
	f(func(q *outQueue) {
		q.push([]byte("aaaa"), false)
		q.push([]byte("bb"), false)
		q.advance(1)
		q.push([]byte("P"), true)
	}, "aaaPbb", 6)
	// A close truncates everything but the partly written head.
	f(func(q *outQueue) {
		q.push([]byte("aaaa"), false)
		q.push([]byte("bb"), false)
		q.advance(2)
		q.truncateAfterHead()
		q.push([]byte("C"), true)
	}, "aaC", 3)
	f(func(q *outQueue) {
		q.push([]byte("aaaa"), false)
		q.push([]byte("bb"), false)
		q.truncateAfterHead()
		q.push([]byte("C"), true)
	}, "C", 1)
	// Advancing across buffers and compaction keep the content intact.
	f(func(q *outQueue) {
		for i := 0; i < 100; i++ {
			q.push([]byte{byte('a' + i%26)}, false)
			if i%2 == 1 {
				q.advance(1)
			}
		}
	}, string(func() []byte {
		var b []byte
		for i := 50; i < 100; i++ {
			b = append(b, byte('a'+i%26))
		}
		return b
	}()), 50)
}

func TestOutQueueEmptiesFully(t *testing.T) {
	q := getOutQueue()
	q.push([]byte("abc"), false)
	q.push([]byte("de"), false)
	q.advance(5)
	if !q.empty() || q.bytes != 0 || q.off != 0 {
		t.Fatalf("queue not empty after writing everything: %+v", q)
	}
	putOutQueue(q)
}
