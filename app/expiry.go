package app

import (
	"container/heap"
	"sync"
	"time"

	"c1m/broadcast"
	"c1m/server"
	"c1m/wsproto"
)

// closeTokenExpired is the close code of a connection whose token expired
// (Config.ExpireClose): an application code (RFC 6455 §7.4.2), graceful,
// so what is queued for the client goes out first.
const closeTokenExpired wsproto.StatusCode = 4001

// expiries closes connections when their tokens' "exp" passes
// (Config.ExpireClose). It holds one heap entry per open connection with
// a token, removed when the connection closes, so it is bounded by the
// open connections; one goroutine checks it every tick.
//
// Concurrency: safe for concurrent use.
type expiries struct {
	mu   sync.Mutex
	h    expHeap
	eng  *server.Server
	stop chan struct{}
	done chan struct{}
}

type expEntry struct {
	at int64 // unix ms
	c  broadcast.ConnID
}

type expHeap struct {
	e   []expEntry
	pos []int32
}

func (h *expHeap) Len() int           { return len(h.e) }
func (h *expHeap) Less(i, j int) bool { return h.e[i].at < h.e[j].at }
func (h *expHeap) Swap(i, j int) {
	h.e[i], h.e[j] = h.e[j], h.e[i]
	h.pos[h.e[i].c.FD], h.pos[h.e[j].c.FD] = int32(i), int32(j)
}
func (h *expHeap) Push(x any) {
	e := x.(expEntry)
	h.pos[e.c.FD] = int32(len(h.e))
	h.e = append(h.e, e)
}
func (h *expHeap) Pop() any {
	e := h.e[len(h.e)-1]
	h.e = h.e[:len(h.e)-1]
	h.pos[e.c.FD] = -1
	return e
}

func newExpiries(eng *server.Server, tick time.Duration) *expiries {
	x := &expiries{eng: eng, stop: make(chan struct{}), done: make(chan struct{})}
	x.h.pos = make([]int32, eng.MaxFDs())
	for i := range x.h.pos {
		x.h.pos[i] = -1
	}
	go x.run(tick)
	return x
}

// add schedules c's close at exp.
func (x *expiries) add(c broadcast.ConnID, exp time.Time) {
	if exp.IsZero() {
		return
	}
	x.mu.Lock()
	heap.Push(&x.h, expEntry{at: exp.UnixMilli(), c: c})
	x.mu.Unlock()
}

// remove forgets c (it closed).
func (x *expiries) remove(c broadcast.ConnID) {
	x.mu.Lock()
	if i := x.h.pos[c.FD]; i >= 0 && x.h.e[i].c == c {
		heap.Remove(&x.h, int(i))
	}
	x.mu.Unlock()
}

// size returns the connections waiting for their expiry.
func (x *expiries) size() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.h.Len()
}

func (x *expiries) run(tick time.Duration) {
	defer close(x.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixMilli()
		for {
			x.mu.Lock()
			if x.h.Len() == 0 || x.h.e[0].at > now {
				x.mu.Unlock()
				break
			}
			e := heap.Pop(&x.h).(expEntry)
			x.mu.Unlock()
			x.eng.Conn(e.c.FD, e.c.Gen).Close(closeTokenExpired, "token expired")
		}
	}
}

func (x *expiries) close() {
	close(x.stop)
	<-x.done
}
