package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"c1m/internal/debuggc"
)

// The servers' memory per connection, the benchmark's headline memory
// figure:
//
//	(Σ RssAnon of the servers holding N connections
//	  − servers × RssAnon of the control server) ÷ N
//
// The control server is the same server started the same way and at the
// same time, but under an open-files limit of controlNoFile, and it holds
// no connection. Every reading is taken right after the server ran a full
// garbage collection and handed its free memory back to the OS (POST
// /debug/gc, which c1m serve, the floor and the baseline all answer), the
// control's at the same moments as the servers'. Each measured server
// runs under an open-files limit of its share of the connections plus
// processFDReserve, as a server sized for the run on a tuned box.
//
// Why each part, measured on the project's box (the mem branch's report
// has the figures):
//
//   - The collection: between collections RSS mixes live memory with
//     garbage and the heap's growth allowance (GOGC). An idle c1m with the
//     app handler makes about 75 KB/s of garbage (its status page reads
//     the server's whole /metrics text every second), so RSS at the end of
//     a hold moved by megabytes with the collector's phase: 59 to 273 B
//     per connection in two runs of the same test.
//   - The control server: the fd-indexed tables (c1m's slot table, the
//     hub's members, the protocol's state: 144 B per possible fd with the
//     app handler) are sized by the open-files limit at start-up. Whether
//     their pages are resident before the first connection depends on the
//     kernel (where reading an untouched page maps a private page rather
//     than the shared zero page, the collector's scan makes them resident)
//     and on whether a collection has run, so a delta from the same
//     server's own start-up charged them in one run and not in the next.
//     Against a server without them they count, whatever the kernel does:
//     a server that holds N connections needs them. The control lives as
//     long as the servers because a Go process's RssAnon grows by about
//     250 KB over its first ten seconds or so, connections or not (the
//     runtime touching metadata and heap pages as collections move its
//     allocations around): an empty server read once at start-up made the
//     servers look 15 B per connection dearer at 19,000.
//   - RssAnon rather than VmRSS: the executable's pages (about 9 MiB) are
//     shared and can be dropped and re-read, and the share of them a run
//     touches varies; they do not grow with connections.
//
// What the figure also holds, and the breakdown's "rest" shows: the
// runtime's structures that grow with the heap, heap fragmentation, and
// buffers and code paths touched once.

// controlNoFile is the open-files limit of the control server: room for
// the process's own descriptors and no connections to speak of.
const controlNoFile = 256

// Memory is the servers' memory per connection and its parts, in bytes
// per connection held. Parts: Tables are the fd-indexed tables (heap
// objects sized by the open-files limit: the servers' live heap before
// the ramp over the control's), Heap the heap objects the connections
// added (the servers' live heap growth from before the ramp to full
// count, less the control's over the same time), Stacks the goroutine
// stacks (over the control's), Rest the remainder (runtime structures
// that grow with the heap, fragmentation, buffers touched once).
type Memory struct {
	PerConn float64 `json:"bytes_per_conn"`
	Tables  float64 `json:"tables_bytes_per_conn"`
	Heap    float64 `json:"heap_bytes_per_conn"`
	Stacks  float64 `json:"stacks_bytes_per_conn"`
	Rest    float64 `json:"rest_bytes_per_conn"`
	// TableBytesPerFD is the tables' size per possible descriptor.
	TableBytesPerFD float64 `json:"table_bytes_per_fd"`
	// NoFile is each measured server's open-files limit, ControlNoFile
	// the control's.
	NoFile        int `json:"server_nofile"`
	ControlNoFile int `json:"control_nofile"`
	// Before is each server before the ramp, After at full count after
	// the hold; ControlBefore and ControlAfter the control server at the
	// same moments.
	Before        []ServerMemory `json:"before"`
	After         []ServerMemory `json:"after"`
	ControlBefore ServerMemory   `json:"control_before"`
	ControlAfter  ServerMemory   `json:"control_after"`
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

// serverNoFile is the open-files limit each local server gets: its share
// of the connections plus the descriptors a process keeps for itself,
// within the box's limit.
func (c *Config) serverNoFile(limit uint64) int {
	per := (c.Conns + c.Servers - 1) / max(c.Servers, 1)
	return int(min(uint64(per+processFDReserve), limit))
}

// startControl starts the control server on the three ports after the
// servers' (Config.serverPorts; RunCompare leaves room for them). It is
// a single node even in cluster mode: it must not join the cluster it
// is the control of.
func (r *runner) startControl(ctx context.Context, pubKey string) error {
	c := *r.cfg
	c.Servers, c.BasePort, c.Cluster = 1, r.cfg.BasePort+r.cfg.serverPorts(), ""
	ss, err := startServers(ctx, &c, pubKey, controlNoFile)
	if len(ss) > 0 {
		r.control = ss[0]
	}
	if err != nil {
		return fmt.Errorf("cannot start the control server: %w", err)
	}
	return nil
}

// stopControl kills the control server: it holds nothing, there is no
// drain to wait for.
func (r *runner) stopControl() {
	if r.control == nil {
		return
	}
	_ = r.control.cmd.Process.Kill()
	_ = r.control.cmd.Wait()
	r.control = nil
}

// readMemory reads every server and the control after a collection.
func (r *runner) readMemory() (servers []ServerMemory, control ServerMemory, err error) {
	if servers, err = gcSampleAll(r.servers); err != nil {
		return nil, control, err
	}
	control, err = gcSample(r.control)
	return servers, control, err
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
		var a debuggc.Report
		if err := json.Unmarshal(body, &a); err != nil {
			return ServerMemory{}, fmt.Errorf("cannot parse the collection report of the server on port %d: %w", s.port, err)
		}
		pid := s.cmd.Process.Pid
		anon, err := ProcRSSAnon(pid)
		if err != nil {
			return ServerMemory{}, err
		}
		return ServerMemory{PID: pid, RSSAnon: anon, HeapLive: int64(a.HeapLive), HeapInuse: int64(a.HeapInuse),
			Stacks: int64(a.Stacks), Runtime: int64(a.Runtime), GCSeconds: a.Seconds}, nil
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
	cb, ca := m.ControlBefore, m.ControlAfter
	n := float64(held)
	tables := liveBefore - k*cb.HeapLive
	m.PerConn = float64(anon-k*ca.RSSAnon) / n
	m.Tables = float64(tables) / n
	m.Heap = float64((liveAfter-liveBefore)-k*(ca.HeapLive-cb.HeapLive)) / n
	m.Stacks = float64(stacks-k*ca.Stacks) / n
	m.Rest = m.PerConn - m.Tables - m.Heap - m.Stacks
	if fds := k * int64(m.NoFile-m.ControlNoFile); fds > 0 {
		m.TableBytesPerFD = float64(tables) / float64(fds)
	}
}
