// Package debuggc answers POST /debug/gc for every server the benchmark
// measures: c1m serve's metrics listener (with --debug-gc) and the
// benchmark's floor and baseline servers (bench/internal/pubapi). It runs
// a full garbage collection, hands the freed memory back to the operating
// system, and answers with what the process holds afterwards (Report, as
// JSON).
//
// Why: between collections a Go process's RSS mixes live memory with
// garbage and with the heap's growth allowance (GOGC), so two readings of
// the same server differ by megabytes. After this call RSS is what the
// server really holds, which is what the benchmark's memory per
// connection needs (bench/memory.go).
//
// A collection scans every live object on every core, for milliseconds
// to tens of milliseconds at a million connections, and the memory it
// hands back is faulted in again as the heap regrows. So the handler
// accepts POST only (405 otherwise, so that a crawler or a browser never
// triggers it), runs one collection at a time per process and at most
// one per MinInterval (429 with Retry-After). Whether to serve it at all
// is the caller's decision: c1m serve mounts it only with --debug-gc.
package debuggc

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// MinInterval is the least time between two collections by the handler.
const MinInterval = time.Second

// Report is the answer of POST /debug/gc. Byte counts come from
// runtime.MemStats read right after the collection.
type Report struct {
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

// Refuse writes a refusal: the HTTP status, a short machine-readable
// code and a sentence. Each server answers errors in its own format.
type Refuse func(w http.ResponseWriter, status int, code, msg string)

// PlainText is a Refuse that writes msg as text/plain (http.Error).
func PlainText(w http.ResponseWriter, status int, _, msg string) {
	http.Error(w, msg, status)
}

// gate admits one collection at a time, at most one per MinInterval. It
// is per process, like the collection itself; now is its clock.
type gate struct {
	mu   sync.Mutex
	last time.Time
	now  func() time.Time
}

// processGate is the gate of every handler in this process.
var processGate = gate{now: time.Now}

// Handler returns the POST /debug/gc handler; refuse writes its 405 and
// 429 answers. It is safe for concurrent use.
func Handler(refuse Refuse) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			refuse(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST: it runs a full garbage collection")
			return
		}
		g := &processGate
		if !g.mu.TryLock() {
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusTooManyRequests, "busy", "a collection is already running")
			return
		}
		defer g.mu.Unlock()
		if wait := MinInterval - g.now().Sub(g.last); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			refuse(w, http.StatusTooManyRequests, "too_often", "at most one collection per second")
			return
		}
		rep := Collect()
		g.last = g.now()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	}
}

// Collect runs two collections (the second frees what sync.Pools kept
// through the first as their victim cache), returns the free heap to the
// OS, and reads the memory statistics. It takes no gate: callers that
// can be reached from outside go through Handler.
func Collect() Report {
	start := time.Now()
	runtime.GC()
	debug.FreeOSMemory() // a collection, then the release
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Report{
		HeapLive:  ms.HeapAlloc,
		HeapInuse: ms.HeapInuse,
		Stacks:    ms.StackInuse,
		Runtime:   ms.GCSys + ms.MSpanSys + ms.MCacheSys + ms.BuckHashSys + ms.OtherSys,
		Released:  ms.HeapReleased,
		Seconds:   time.Since(start).Seconds(),
	}
}
