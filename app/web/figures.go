package web

import (
	"math"
	"time"
)

// Figures are the numbers the status page shows for one node, or for all
// nodes together (Frame.Total). Rates are per second over the last sample
// interval; counts are as of the sample. A figure that cannot be computed
// (no connections to divide by, no pings in the window) is null in JSON.
//
// Every figure comes from the node's own Prometheus exposition, named in
// its comment, so the page shows what an operator's Prometheus sees.
type Figures struct {
	Node string `json:"node,omitempty"`
	// Up is false when the node's exposition could not be read; Error
	// then says why and the other figures are zero.
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`

	Connections float64 `json:"connections"` // c1m_connections
	Sockets     float64 `json:"sockets"`     // c1m_sockets
	Rooms       float64 `json:"rooms"`       // c1m_rooms
	Users       float64 `json:"users"`       // c1m_users

	MessagesInPerSec  float64 `json:"messages_in_per_s"`  // rate(c1m_messages_received_total): client frames
	MessagesOutPerSec float64 `json:"messages_out_per_s"` // rate(c1m_published_total): messages fanned out (clients and API)
	DeliveriesPerSec  float64 `json:"deliveries_per_s"`   // rate(c1m_deliveries_total): frames handed to connections
	BytesInPerSec     float64 `json:"bytes_in_per_s"`     // rate(c1m_bytes_received_total)
	BytesOutPerSec    float64 `json:"bytes_out_per_s"`    // rate(c1m_bytes_sent_total)
	OpenedPerSec      float64 `json:"opened_per_s"`       // rate(c1m_connections_opened_total)

	QueuedBytes         float64  `json:"queued_bytes"`          // c1m_queued_bytes
	SlowConsumers       float64  `json:"slow_consumers"`        // sum(c1m_slow_consumers_total), since start
	SlowConsumersPerSec float64  `json:"slow_consumers_per_s"`  // its rate
	RSSBytes            float64  `json:"rss_bytes"`             // process_resident_memory_bytes
	MemoryPerConn       *float64 `json:"memory_per_conn_bytes"` // c1m_memory_per_connection_bytes (RSS / connections where the server has none); null without connections
	CPUCores            float64  `json:"cpu_cores"`             // rate(process_cpu_seconds_total)

	// LoopBusy is the mean share of time the event loops spent working
	// (rate of c1m_loop_busy_seconds_total over the loops), 0…1;
	// LoopBusyMax the busiest loop's share.
	LoopBusy    float64 `json:"loop_busy"`
	LoopBusyMax float64 `json:"loop_busy_max"`
	Loops       int     `json:"loops"`

	PingRTT Quantiles `json:"ping_rtt"` // c1m_ping_rtt_seconds, over RTTWindow
}

// Quantiles are heartbeat round trips in seconds, estimated from the
// histogram buckets' increase over the window (as histogram_quantile does),
// with Count the pongs in the window. Null when Count is 0.
type Quantiles struct {
	P50   *float64 `json:"p50"`
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
	Count float64  `json:"count"`
	// WindowS is the span the quantiles cover, in seconds: RTTWindow, or
	// less just after start.
	WindowS float64 `json:"window_s"`
}

// snapshot is one parsed scrape of a node (or the merge of all nodes'
// scrapes taken in one tick).
type snapshot struct {
	at  time.Time
	e   exposition // nil once the snapshot is only a quantile base
	rtt []bucket   // c1m_ping_rtt_seconds buckets
}

func newSnapshot(at time.Time, e exposition) snapshot {
	return snapshot{at: at, e: e, rtt: e.buckets("c1m_ping_rtt_seconds")}
}

// computeFigures derives a node's figures from its current snapshot, the
// one before (rates) and an older one about the RTT window ago
// (quantiles). prev and old may be nil (first samples).
func computeFigures(cur, prev, old *snapshot) Figures {
	e := cur.e
	f := Figures{
		Up:          true,
		Connections: e.sum("c1m_connections"),
		Sockets:     e.sum("c1m_sockets"),
		Rooms:       e.sum("c1m_rooms"),
		Users:       e.sum("c1m_users"),
		QueuedBytes: e.sum("c1m_queued_bytes"),
		RSSBytes:    e.sum("process_resident_memory_bytes"),
		Loops:       len(e["c1m_loop_busy_seconds_total"]),
	}
	f.SlowConsumers = e.sum("c1m_slow_consumers_total")
	switch m, ok := e["c1m_memory_per_connection_bytes"]; {
	case f.Connections == 0:
	case ok && len(m) > 0:
		f.MemoryPerConn = ptr(e.sum("c1m_memory_per_connection_bytes"))
	case f.RSSBytes > 0:
		f.MemoryPerConn = ptr(f.RSSBytes / f.Connections)
	}
	if prev != nil {
		dt := cur.at.Sub(prev.at).Seconds()
		rate := func(name string) float64 { return counterRate(prev.e.sum(name), e.sum(name), dt) }
		f.MessagesInPerSec = rate("c1m_messages_received_total")
		f.MessagesOutPerSec = rate("c1m_published_total")
		f.DeliveriesPerSec = rate("c1m_deliveries_total")
		f.BytesInPerSec = rate("c1m_bytes_received_total")
		f.BytesOutPerSec = rate("c1m_bytes_sent_total")
		f.OpenedPerSec = rate("c1m_connections_opened_total")
		f.SlowConsumersPerSec = rate("c1m_slow_consumers_total")
		f.CPUCores = rate("process_cpu_seconds_total")
		f.LoopBusy, f.LoopBusyMax = loopBusy(prev.e, e, dt)
	}
	base := old
	if base == nil {
		base = prev
	}
	if base != nil && cur.rtt != nil {
		inc := increase(base.rtt, cur.rtt)
		f.PingRTT.WindowS = cur.at.Sub(base.at).Seconds()
		f.PingRTT.Count = inc[len(inc)-1].count
		f.PingRTT.P50 = finite(quantile(0.50, inc))
		f.PingRTT.P90 = finite(quantile(0.90, inc))
		f.PingRTT.P99 = finite(quantile(0.99, inc))
	}
	return f
}

// counterRate is (cur − prev) / dt, or cur / dt when the counter went down
// (the process restarted: everything counted since is new).
func counterRate(prev, cur, dt float64) float64 {
	if dt <= 0 {
		return 0
	}
	if cur < prev {
		return cur / dt
	}
	return (cur - prev) / dt
}

// loopBusy returns the mean and the highest busy share of the loops
// between two snapshots, matching loops by their label set. A share is
// capped at 1 (sampling jitter can push a fully busy loop a little over).
func loopBusy(prev, cur exposition, dt float64) (mean, highest float64) {
	ls := cur["c1m_loop_busy_seconds_total"]
	if len(ls) == 0 || dt <= 0 {
		return 0, 0
	}
	old := map[string]float64{}
	for _, s := range prev["c1m_loop_busy_seconds_total"] {
		old[s.labels] += s.value
	}
	var total float64
	for _, s := range ls {
		share := min(counterRate(old[s.labels], s.value, dt), 1)
		total += share
		highest = max(highest, share)
	}
	return total / float64(len(ls)), highest
}

func ptr(v float64) *float64 { return &v }

// finite returns &v, or nil for NaN and ±Inf (not representable in JSON).
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
