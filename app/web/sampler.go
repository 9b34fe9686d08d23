package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Source is one node whose figures the status page shows: its name and a
// function that writes its Prometheus text exposition (for the local node,
// (*server.Server).WriteMetrics; for another node of a cluster, a scrape of
// its /metrics). Write is called from the sampler's goroutine only, once
// per interval, and must not block for long.
type Source struct {
	Node  string
	Write func(w io.Writer) error
}

// Frame is one message of the live feed (/v1/live), sent once per
// interval: the figures of every node and of all of them together.
type Frame struct {
	Type  string    `json:"type"` // "live"
	TS    int64     `json:"ts"`   // sample time, ms since the Unix epoch
	Total Figures   `json:"total"`
	Nodes []Figures `json:"nodes"`
}

// Point is one sample of the charts' series (totals), kept for History.
type Point struct {
	TS          int64   `json:"ts"`
	Connections float64 `json:"connections"`
	MessagesIn  float64 `json:"messages_in_per_s"`
	MessagesOut float64 `json:"messages_out_per_s"`
	Deliveries  float64 `json:"deliveries_per_s"`
}

// History is the first message of the live feed: the charts' points of
// the last few minutes, oldest first, and the sample interval.
type History struct {
	Type       string  `json:"type"` // "history"
	IntervalMs int64   `json:"interval_ms"`
	Points     []Point `json:"points"`
}

// RTTWindow is the span over which ping round-trip quantiles are
// estimated: a connection is pinged once per --ping-interval (30 s), so a
// shorter window would mostly be empty.
const RTTWindow = time.Minute

// sampler turns the sources' expositions into Frames once per interval.
// Its state is touched by the sampling goroutine (sample) and read by
// viewers through history; mu guards points.
type sampler struct {
	sources  []Source
	peers    func() []Source // other nodes of a cluster, asked at every sample; nil: none
	interval time.Duration
	keep     int // chart points kept

	buf   bytes.Buffer
	nodes map[string][]snapshot // per node: recent snapshots, oldest first, spanning RTTWindow
	tot   []snapshot            // merged snapshots, the same span

	mu     sync.Mutex
	points []Point // ring of the last keep points, oldest first
}

func newSampler(sources []Source, peers func() []Source, interval time.Duration, keep int) *sampler {
	return &sampler{sources: sources, peers: peers, interval: interval, keep: keep, nodes: map[string][]snapshot{}}
}

// current returns the sources of this sample: the configured ones, then
// the cluster's other nodes known now.
func (sm *sampler) current() []Source {
	if sm.peers == nil {
		return sm.sources
	}
	return append(sm.sources[:len(sm.sources):len(sm.sources)], sm.peers()...)
}

// sample reads every source once at time now and returns the frame.
func (sm *sampler) sample(now time.Time) Frame {
	sources := sm.current()
	fr := Frame{Type: "live", TS: now.UnixMilli(), Nodes: make([]Figures, len(sources))}
	var up []exposition
	loops, busy, busyMax := 0, 0.0, 0.0
	seen := make(map[string]bool, len(sources))
	for i, src := range sources {
		seen[src.Node] = true
		sm.buf.Reset()
		e, err := sm.read(src)
		if err != nil {
			fr.Nodes[i] = Figures{Node: src.Node, Error: err.Error()}
			delete(sm.nodes, src.Node) // rates restart when it comes back
			continue
		}
		cur := newSnapshot(now, e)
		sm.nodes[src.Node] = appendWindow(sm.nodes[src.Node], cur)
		f := computeFigures(window(sm.nodes[src.Node]))
		f.Node = src.Node
		fr.Nodes[i] = f
		up = append(up, e)
		loops += f.Loops
		busy += f.LoopBusy * float64(f.Loops)
		busyMax = max(busyMax, f.LoopBusyMax)
	}
	for name := range sm.nodes {
		if !seen[name] {
			delete(sm.nodes, name) // a node that left the cluster
		}
	}
	if len(up) > 0 {
		sm.tot = appendWindow(sm.tot, newSnapshot(now, merge(up)))
		fr.Total = computeFigures(window(sm.tot))
		// Loops of different nodes share label sets; their shares are
		// combined from the nodes' own figures instead.
		fr.Total.Loops, fr.Total.LoopBusyMax = loops, busyMax
		fr.Total.LoopBusy = 0
		if loops > 0 {
			fr.Total.LoopBusy = busy / float64(loops)
		}
	} else {
		fr.Total.Error = "no node could be read"
	}
	sm.mu.Lock()
	if len(sm.points) == sm.keep {
		copy(sm.points, sm.points[1:])
		sm.points = sm.points[:sm.keep-1]
	}
	sm.points = append(sm.points, Point{TS: fr.TS, Connections: fr.Total.Connections,
		MessagesIn: fr.Total.MessagesInPerSec, MessagesOut: fr.Total.MessagesOutPerSec, Deliveries: fr.Total.DeliveriesPerSec})
	sm.mu.Unlock()
	return fr
}

func (sm *sampler) read(src Source) (exposition, error) {
	if err := src.Write(&sm.buf); err != nil {
		return nil, fmt.Errorf("cannot read the metrics of %s: %w", src.Node, err)
	}
	e, err := parseExposition(sm.buf.String())
	if err != nil {
		return nil, fmt.Errorf("cannot parse the metrics of %s: %w", src.Node, err)
	}
	return e, nil
}

// history returns the chart points kept so far as the feed's first
// message. Safe for concurrent use.
func (sm *sampler) history() []byte {
	sm.mu.Lock()
	h := History{Type: "history", IntervalMs: sm.interval.Milliseconds(), Points: append([]Point(nil), sm.points...)}
	sm.mu.Unlock()
	b, _ := json.Marshal(h)
	return b
}

// appendWindow appends cur to snaps and drops the snapshots older than
// needed: it keeps the newest one at least RTTWindow older than cur (the
// quantiles' base) and everything after it. Only the last two keep their
// whole exposition (rates); older ones keep their RTT buckets alone.
func appendWindow(snaps []snapshot, cur snapshot) []snapshot {
	snaps = append(snaps, cur)
	if n := len(snaps); n > 2 {
		snaps[n-3].e = nil
	}
	cut := 0
	for i := range snaps {
		if cur.at.Sub(snaps[i].at) >= RTTWindow {
			cut = i
		}
	}
	if cut > 0 {
		n := copy(snaps, snaps[cut:])
		clear(snaps[n:])
		snaps = snaps[:n]
	}
	return snaps
}

// window returns the newest snapshot, the one before it and the oldest
// kept (nil when there is none).
func window(snaps []snapshot) (cur, prev, old *snapshot) {
	n := len(snaps)
	cur = &snaps[n-1]
	if n >= 2 {
		prev = &snaps[n-2]
		old = &snaps[0]
	}
	return cur, prev, old
}
