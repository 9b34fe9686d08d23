//go:build linux

package conformance

import (
	"fmt"
	"time"

	"c1m/internal/c1mtest"
)

// usage is what the server holds: descriptors (/proc/PID/fd), goroutines
// (go_goroutines) and heap in use (go_memstats_heap_inuse_bytes).
type usage struct {
	fds, goroutines int
	heap            float64
}

func (u usage) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %.1f MiB heap in use", u.fds, u.goroutines, u.heap/(1<<20))
}

func (s *server) usage() usage {
	s.t.Helper()
	m := s.Scrape()
	return usage{fds: s.FDs(), goroutines: int(m["go_goroutines"]), heap: m["go_memstats_heap_inuse_bytes"]}
}

// Leak tolerances.
//
// Descriptors and goroutines must come back to the baseline exactly: an
// idle c1m has a fixed set (listeners, epoll, eventfd; one goroutine per
// loop plus the runtime's and the metrics server's), and each scrape's
// own connection is closed before the next (no keep-alive).
//
// The heap cannot be compared exactly: nothing can make the child collect
// garbage on demand (no debug endpoint, by design), so until its next GC
// the heap still holds the suite's garbage and the pools' buffers (sync.Pool
// empties only over two GCs). Its next GC target is bounded by GOGC=100,
// twice the live heap at the previous cycle, and the live heap of an idle
// server is its fixed tables. So the check allows a factor of the
// baseline plus the largest buffer the suite can leave pooled or
// unreachable (a --max-message reassembly buffer and its echo copy), and
// fails on what a leak per connection or per message would add over a
// suite of thousands of connections and messages.
const (
	heapFactor = 3
	heapSlack  = 24 << 20
	leakWait   = 15 * time.Second
)

// checkNoLeaks waits (at most leakWait, plus --close-linger for sockets
// still lingering) until no socket is open and descriptors, goroutines and
// heap are back within the tolerances of base.
func (s *server) checkNoLeaks(base usage) {
	s.t.Helper()
	var now usage
	var sockets float64
	c1mtest.Eventually(s.t, leakWait, func() bool {
		sockets = s.Metric("c1m_sockets")
		now = s.usage()
		return sockets == 0 && now.fds <= base.fds && now.goroutines <= base.goroutines &&
			now.heap <= heapFactor*base.heap+heapSlack
	}, func() string {
		return fmt.Sprintf("leak: c1m_sockets %v; now %v, baseline %v (heap allowed %.1f MiB)", sockets, now, base, (heapFactor*base.heap+heapSlack)/(1<<20))
	})
	s.t.Logf("no leak: baseline %v; after %v", base, now)
}
