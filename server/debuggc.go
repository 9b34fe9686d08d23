package server

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// POST /debug/gc on the metrics listener, served only with Config.DebugGC
// (c1m serve --debug-gc), runs a full garbage collection, hands the freed
// memory back to the operating system, and answers with what the process
// holds afterwards (gcReport, JSON).
//
// Why: between collections a Go process's RSS mixes live memory with
// garbage and with the heap's growth allowance (GOGC), so two readings of
// the same server differ by megabytes. After this call RSS is what the
// server really holds, which is what the benchmark's memory per
// connection needs (bench/memory.go; c1m bench passes --debug-gc).
//
// Why off by default: the metrics listener has no key, and operators
// bind it off loopback for Prometheus. A collection scans every live
// object, the fd-indexed tables included (a few hundred bytes per
// possible connection), on every core for milliseconds to tens of
// milliseconds, and the memory it hands back is faulted in again as the
// heap regrows. Whoever can reach the listener must not be able to buy
// that. When it is on: POST only (405 otherwise, so that a crawler or a
// browser never triggers it), one at a time per process and at most one
// per gcMinInterval (429 with Retry-After).

// gcMinInterval is the least time between two collections by /debug/gc.
const gcMinInterval = time.Second

// gcGate admits one /debug/gc at a time, at most one per gcMinInterval.
// It is per process, like the collection itself.
var gcGate struct {
	mu   sync.Mutex
	last time.Time
}

// gcReport is the answer of POST /debug/gc. Byte counts come from
// runtime.MemStats read right after the collection.
type gcReport struct {
	// HeapLive is the bytes of reachable heap objects (HeapAlloc after a
	// complete collection and sweep).
	HeapLive uint64 `json:"heap_live_bytes"`
	// HeapInuse is the heap spans holding those objects, free slots of
	// partly used spans included.
	HeapInuse uint64 `json:"heap_inuse_bytes"`
	// Stacks is the goroutine stacks in use.
	Stacks uint64 `json:"stack_inuse_bytes"`
	// Runtime is the runtime's own structures: GC metadata, span and cache
	// structures, profiling buckets and the rest (GCSys + MSpanSys +
	// MCacheSys + BuckHashSys + OtherSys).
	Runtime uint64 `json:"runtime_bytes"`
	// Released is the heap returned to the OS and not yet reused.
	Released uint64 `json:"heap_released_bytes"`
	// Seconds is how long the collection and the release took.
	Seconds float64 `json:"seconds"`
}

// serveGC is the handler of /debug/gc.
func serveGC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST: it runs a full garbage collection", http.StatusMethodNotAllowed)
		return
	}
	if !gcGate.mu.TryLock() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "a collection is already running", http.StatusTooManyRequests)
		return
	}
	defer gcGate.mu.Unlock()
	if wait := gcMinInterval - time.Since(gcGate.last); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		http.Error(w, "at most one collection per second", http.StatusTooManyRequests)
		return
	}
	rep := collect()
	gcGate.last = time.Now()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rep)
}

// collect runs two collections (the second frees what sync.Pools kept
// through the first as their victim cache), returns the free heap to the
// OS, and reads the memory statistics.
func collect() gcReport {
	start := time.Now()
	runtime.GC()
	debug.FreeOSMemory() // a collection, then the release
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return gcReport{
		HeapLive:  ms.HeapAlloc,
		HeapInuse: ms.HeapInuse,
		Stacks:    ms.StackInuse,
		Runtime:   ms.GCSys + ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.OtherSys,
		Released:  ms.HeapReleased,
		Seconds:   time.Since(start).Seconds(),
	}
}
