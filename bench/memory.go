package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The servers' memory per connection, the benchmark's headline memory
// figure:
//
//	(Σ RssAnon of the servers holding N connections
//	  − servers × RssAnon of an empty server) ÷ N
//
// Every reading is taken right after the server ran a full garbage
// collection and handed its free memory back to the OS (POST /debug/gc,
// which c1m serve, the floor and the baseline all answer). The empty
// server is the same server started the same way but under an
// open-files limit of emptyNoFile, holding no connection; each measured
// server runs under an open-files limit of its share of the connections
// plus processFDReserve, as a server sized for the run on a tuned box.
//
// Why each part, measured on the project's box (the mem branch's report
// has the figures):
//
//   - The collection: between collections RSS mixes live memory with
//     garbage and the heap's growth allowance (GOGC). An idle c1m with the
//     app handler makes about 200 KB/s of garbage at 19,000 connections
//     (its status page reads its own /metrics every second, and the
//     process metrics list /proc/self/fd), so RSS at the end of a hold
//     moved by megabytes with the collector's phase: 59 to 273 B per
//     connection in two runs of the same test.
//   - The empty server: the fd-indexed tables (c1m's slot table, the
//     hub's members, the protocol's state: 144 B per possible fd with the
//     app handler) are sized by the open-files limit at start-up. Whether
//     their pages are resident before the first connection depends on the
//     kernel (where reading an untouched page maps a private page rather
//     than the shared zero page, the collector's scan makes them resident)
//     and on whether a collection has run, so a delta from the same
//     server's own start-up charged them in one run and not in the next.
//     Against a server without them they count, whatever the kernel does:
//     a server that holds N connections needs them.
//   - RssAnon rather than VmRSS: the executable's pages (about 9 MiB) are
//     shared and can be dropped and re-read, and the share of them a run
//     touches varies; they do not grow with connections.
//
// What the figure also holds, and the breakdown's "rest" shows: the
// runtime's structures that grow with the heap, heap fragmentation, and a
// fixed cost of having served at all (buffers and code paths touched
// once, about 300 KB per c1m process, 15 B per connection at 19,000).

// emptyNoFile is the open-files limit of the empty server: room for the
// process's own descriptors and no connections to speak of.
const emptyNoFile = 256

// emptyRuns is how many empty servers are measured, one after the other;
// the one of median RssAnon is the reference. Fresh processes of the same
// binary differ by about 100 KB (heap fragmentation, the stacks the
// start-up goroutines grew), 5 B per connection at 19,000.
const emptyRuns = 3

// Memory is the servers' memory per connection and its parts, in bytes
// per connection held. Parts: Tables are the fd-indexed tables (heap
// objects sized by the open-files limit: the live heap of the servers
// before the ramp over that of the empty server), Heap the heap objects
// the connections added (live heap at full count over before the ramp),
// Stacks the goroutine stacks (over the empty server's), Rest the
// remainder (runtime structures that grow with the heap, fragmentation,
// buffers touched once).
type Memory struct {
	PerConn float64 `json:"bytes_per_conn"`
	Tables  float64 `json:"tables_bytes_per_conn"`
	Heap    float64 `json:"heap_bytes_per_conn"`
	Stacks  float64 `json:"stacks_bytes_per_conn"`
	Rest    float64 `json:"rest_bytes_per_conn"`
	// TableBytesPerFD is the tables' size per possible descriptor.
	TableBytesPerFD float64 `json:"table_bytes_per_fd"`
	// NoFile is each measured server's open-files limit, EmptyNoFile the
	// empty server's.
	NoFile      int `json:"server_nofile"`
	EmptyNoFile int `json:"empty_nofile"`
	// Empty is the reference empty server; Empties every one measured.
	Empty   ServerMemory   `json:"empty"`
	Empties []ServerMemory `json:"empties"`
	// Before is each server before the ramp, After at full count after
	// the hold.
	Before []ServerMemory `json:"before"`
	After  []ServerMemory `json:"after"`
}

// ServerMemory is one server's memory right after a full collection:
// RssAnon from /proc, the rest as the server's POST /debug/gc reported.
type ServerMemory struct {
	PID       int     `json:"pid"`
	RSSAnon   int64   `json:"rss_anon_bytes"`
	HeapLive  int64   `json:"heap_live_bytes"`
	HeapInuse int64   `json:"heap_inuse_bytes"`
	Stacks    int64   `json:"stack_inuse_bytes"`
	Runtime   int64   `json:"runtime_bytes"`
	GCSeconds float64 `json:"gc_seconds"`
}

// gcAnswer is the JSON of POST /debug/gc.
type gcAnswer struct {
	HeapLive  int64   `json:"heap_live_bytes"`
	HeapInuse int64   `json:"heap_inuse_bytes"`
	Stacks    int64   `json:"stack_inuse_bytes"`
	Runtime   int64   `json:"runtime_bytes"`
	Seconds   float64 `json:"seconds"`
}

// serverNoFile is the open-files limit each local server gets: its share
// of the connections plus the descriptors a process keeps for itself,
// within the box's limit.
func (c *Config) serverNoFile(limit uint64) int {
	per := (c.Conns + c.Servers - 1) / max(c.Servers, 1)
	return int(min(uint64(per+processFDReserve), limit))
}

// measureEmpty starts emptyRuns empty servers one after the other, on
// the first ports of the run before its servers start, measures each
// after a collection and kills it, and keeps the median as the
// reference.
func (r *runner) measureEmpty(ctx context.Context, pubKey string, nofile int) error {
	m := &Memory{NoFile: nofile, EmptyNoFile: emptyNoFile}
	one := *r.cfg
	one.Servers = 1
	for i := 0; i < emptyRuns; i++ {
		r.st.update("measuring an empty %s server (%d of %d)", r.cfg.Server, i+1, emptyRuns)
		ss, err := startServers(ctx, &one, pubKey, emptyNoFile)
		var sm ServerMemory
		if err == nil {
			sm, err = gcSample(ss[0])
		}
		// It holds nothing: no drain to wait for.
		for _, s := range ss {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
		if err != nil {
			return fmt.Errorf("cannot measure the empty server: %w", err)
		}
		m.Empties = append(m.Empties, sm)
	}
	r.st.done()
	sorted := slices.Clone(m.Empties)
	slices.SortFunc(sorted, func(a, b ServerMemory) int { return int(a.RSSAnon - b.RSSAnon) })
	m.Empty = sorted[len(sorted)/2]
	r.rep.Memory = m
	return nil
}

// gcSampleAll measures every server after a collection.
func gcSampleAll(servers []*serverProc) ([]ServerMemory, error) {
	out := make([]ServerMemory, 0, len(servers))
	for _, s := range servers {
		sm, err := gcSample(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sm)
	}
	return out, nil
}

// gcClient asks servers for collections; one at a million connections
// takes well under a second.
var gcClient = http.Client{Timeout: 30 * time.Second}

// gcSample asks s for a full collection (POST /debug/gc), then reads its
// RssAnon. A 429 (a collection less than a second ago) is retried after
// the Retry-After the server gives.
func gcSample(s *serverProc) (ServerMemory, error) {
	url := "http://127.0.0.1:" + strconv.Itoa(s.mport) + "/debug/gc"
	for attempt := 1; ; attempt++ {
		resp, err := gcClient.Post(url, "", nil)
		if err != nil {
			return ServerMemory{}, fmt.Errorf("cannot ask the server on port %d for a collection: %w", s.port, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return ServerMemory{}, fmt.Errorf("cannot read the collection report of the server on port %d: %w", s.port, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 5 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 1)) * time.Second)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return ServerMemory{}, fmt.Errorf("cannot make the server on port %d collect: HTTP %d: %.200s", s.port, resp.StatusCode, body)
		}
		var a gcAnswer
		if err := json.Unmarshal(body, &a); err != nil {
			return ServerMemory{}, fmt.Errorf("cannot parse the collection report of the server on port %d: %w", s.port, err)
		}
		pid := s.cmd.Process.Pid
		anon, err := ProcRSSAnon(pid)
		if err != nil {
			return ServerMemory{}, err
		}
		return ServerMemory{PID: pid, RSSAnon: anon, HeapLive: a.HeapLive, HeapInuse: a.HeapInuse,
			Stacks: a.Stacks, Runtime: a.Runtime, GCSeconds: a.Seconds}, nil
	}
}

// compute fills in the figure and its parts for held connections.
func (m *Memory) compute(held int) {
	if held <= 0 || len(m.After) == 0 || len(m.Before) != len(m.After) {
		return
	}
	k := int64(len(m.After))
	var anon, liveBefore, liveAfter, stacks int64
	for i := range m.After {
		anon += m.After[i].RSSAnon
		liveBefore += m.Before[i].HeapLive
		liveAfter += m.After[i].HeapLive
		stacks += m.After[i].Stacks
	}
	n := float64(held)
	tables := liveBefore - k*m.Empty.HeapLive
	m.PerConn = float64(anon-k*m.Empty.RSSAnon) / n
	m.Tables = float64(tables) / n
	m.Heap = float64(liveAfter-liveBefore) / n
	m.Stacks = float64(stacks-k*m.Empty.Stacks) / n
	m.Rest = m.PerConn - m.Tables - m.Heap - m.Stacks
	if fds := k * int64(m.NoFile-m.EmptyNoFile); fds > 0 {
		m.TableBytesPerFD = float64(tables) / float64(fds)
	}
}
