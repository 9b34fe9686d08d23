package pubapi

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// POST /debug/gc runs a full garbage collection, hands the freed memory
// back to the OS and answers with what the process holds afterwards, as
// c1m serve's metrics listener does (server/debuggc.go, same JSON): the
// orchestrator reads every server's memory per connection this way
// (bench/memory.go), so that a measure is not a snapshot of wherever
// the collector happened to be.
//
// POST only (405 otherwise); one at a time and at most one per
// gcMinInterval (429 with Retry-After), like c1m's.

// gcMinInterval is the least time between two collections by /debug/gc.
const gcMinInterval = time.Second

// gcGate admits one collection at a time per process, at most one per
// gcMinInterval.
var gcGate struct {
	mu   sync.Mutex
	last time.Time
}

// GCReport is the answer of POST /debug/gc: runtime.MemStats right after
// the collection.
type GCReport struct {
	HeapLive  uint64  `json:"heap_live_bytes"`     // reachable heap objects
	HeapInuse uint64  `json:"heap_inuse_bytes"`    // spans holding them
	Stacks    uint64  `json:"stack_inuse_bytes"`   // goroutine stacks
	Runtime   uint64  `json:"runtime_bytes"`       // GC metadata, span and cache structures, the rest
	Released  uint64  `json:"heap_released_bytes"` // heap returned to the OS
	Seconds   float64 `json:"seconds"`             // the collection and the release
}

func serveGC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST: it runs a full garbage collection")
		return
	}
	if !gcGate.mu.TryLock() {
		w.Header().Set("Retry-After", "1")
		Error(w, http.StatusTooManyRequests, "busy", "a collection is already running")
		return
	}
	defer gcGate.mu.Unlock()
	if wait := gcMinInterval - time.Since(gcGate.last); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		Error(w, http.StatusTooManyRequests, "too_often", "at most one collection per second")
		return
	}
	rep := collect()
	gcGate.last = time.Now()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// collect runs two collections (the second frees what sync.Pools kept
// through the first), returns the free heap to the OS and reads the
// memory statistics.
func collect() GCReport {
	start := time.Now()
	runtime.GC()
	debug.FreeOSMemory() // a collection, then the release
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return GCReport{
		HeapLive: ms.HeapAlloc, HeapInuse: ms.HeapInuse, Stacks: ms.StackInuse,
		Runtime:  ms.GCSys + ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.OtherSys,
		Released: ms.HeapReleased, Seconds: time.Since(start).Seconds(),
	}
}
