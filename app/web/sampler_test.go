package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseExposition(t *testing.T) {
	text := `# HELP c1m_x a thing
# TYPE c1m_x counter
c1m_x 3
c1m_y{reason="a b",path="/{x}"} 1.5e3
c1m_y{reason="say \"hi\" }"} 2 1700000000000

go_z -0.25
`
	e, err := parseExposition(text)
	if err != nil {
		t.Fatal(err)
	}
	if e.sum("c1m_x") != 3 || e.sum("c1m_y") != 1502 || e.sum("go_z") != -0.25 || e.sum("absent") != 0 {
		t.Fatalf("sums: x %v y %v z %v", e.sum("c1m_x"), e.sum("c1m_y"), e.sum("go_z"))
	}
	if got := e["c1m_y"][1].labels; got != `reason="say \"hi\" }"` {
		t.Fatalf("labels with an escaped quote and a brace: %q", got)
	}
	if v, ok := labelValue(`reason="a b",path="/{x}"`, "path"); !ok || v != "/{x}" {
		t.Fatalf("labelValue path: %q %v", v, ok)
	}
	for _, bad := range []string{"c1m_x", "c1m_x{a=\"b\" 1", "c1m_x one", "{a=\"b\"} 1"} {
		if _, err := parseExposition(bad + "\n"); !errors.Is(err, errExposition) {
			t.Fatalf("%q: err %v, want errExposition", bad, err)
		}
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []bucket{{0.001, 0}, {0.01, 50}, {0.1, 90}, {1, 100}, {inf, 100}}
	f := func(q, want float64) {
		t.Helper()
		if got := quantile(q, bs); math.Abs(got-want) > 1e-12 {
			t.Fatalf("q%v = %v, want %v", q, got, want)
		}
	}
	f(0.25, 0.0055) // halfway through (0.001, 0.01]
	f(0.5, 0.01)
	f(0.9, 0.1)
	f(0.99, 0.91) // 9 of the 10 in (0.1, 1]
	// A rank in the +Inf bucket answers the highest finite bound.
	bs = []bucket{{0.5, 90}, {1, 95}, {inf, 100}}
	f(0.99, 1)
	// No observations, or no +Inf bucket: NaN.
	if v := quantile(0.5, []bucket{{1, 0}, {inf, 0}}); !math.IsNaN(v) {
		t.Fatalf("empty histogram: %v, want NaN", v)
	}
	if v := quantile(0.5, []bucket{{1, 3}}); !math.IsNaN(v) {
		t.Fatalf("no +Inf bucket: %v, want NaN", v)
	}
}

// fakeNode is a Source whose exposition a test sets field by field.
type fakeNode struct {
	conns, sockets, rooms, users float64
	in, published, deliveries    float64
	bytesIn, bytesOut, opened    float64
	queued, slow, rss, cpu       float64
	busy                         []float64 // per loop, seconds
	rtt                          []float64 // cumulative bucket counts for rttBounds and +Inf
	err                          error
}

var rttBounds = []string{"0.001", "0.01", "0.1"}

func (n *fakeNode) Write(w io.Writer) error {
	if n.err != nil {
		return n.err
	}
	fmt.Fprintf(w, "c1m_connections %v\nc1m_sockets %v\nc1m_rooms %v\nc1m_users %v\n", n.conns, n.sockets, n.rooms, n.users)
	fmt.Fprintf(w, "c1m_messages_received_total %v\nc1m_published_total %v\nc1m_deliveries_total %v\n", n.in, n.published, n.deliveries)
	fmt.Fprintf(w, "c1m_bytes_received_total %v\nc1m_bytes_sent_total %v\nc1m_connections_opened_total %v\n", n.bytesIn, n.bytesOut, n.opened)
	fmt.Fprintf(w, "c1m_queued_bytes %v\nc1m_slow_consumers_total{policy=\"close\"} %v\n", n.queued, n.slow)
	fmt.Fprintf(w, "process_resident_memory_bytes %v\nprocess_cpu_seconds_total %v\n", n.rss, n.cpu)
	for i, b := range n.busy {
		fmt.Fprintf(w, "c1m_loop_busy_seconds_total{loop=\"%d\"} %v\n", i, b)
	}
	if n.rtt != nil {
		for i, le := range rttBounds {
			fmt.Fprintf(w, "c1m_ping_rtt_seconds_bucket{le=%q} %v\n", le, n.rtt[i])
		}
		fmt.Fprintf(w, "c1m_ping_rtt_seconds_bucket{le=\"+Inf\"} %v\nc1m_ping_rtt_seconds_count %v\n", n.rtt[3], n.rtt[3])
	}
	return nil
}

func TestSamplerRates(t *testing.T) {
	n := &fakeNode{conns: 4, sockets: 5, rooms: 2, users: 3, rss: 4 << 20, busy: []float64{0, 0}, rtt: []float64{0, 0, 0, 0}}
	sm := newSampler([]Source{{Node: "a", Write: n.Write}}, nil, time.Second, 3)
	t0 := time.Unix(1700000000, 0)

	fr := sm.sample(t0)
	if fr.Type != "live" || fr.TS != t0.UnixMilli() || len(fr.Nodes) != 1 || fr.Nodes[0].Node != "a" || !fr.Nodes[0].Up {
		t.Fatalf("first frame: %+v", fr)
	}
	if f := fr.Total; f.Connections != 4 || f.Sockets != 5 || f.Rooms != 2 || f.Users != 3 || f.MessagesInPerSec != 0 {
		t.Fatalf("first frame's figures: %+v", f)
	}
	if f := fr.Total; f.MemoryPerConn == nil || *f.MemoryPerConn != 1<<20 || f.PingRTT.P50 != nil || f.PingRTT.Count != 0 {
		t.Fatalf("memory per connection %v, RTT %+v", f.MemoryPerConn, f.PingRTT)
	}

	// Two seconds later: rates are the counters' deltas over 2 s.
	n.in, n.published, n.deliveries = 10, 4, 400
	n.bytesIn, n.bytesOut, n.opened, n.slow, n.cpu = 2000, 80000, 6, 2, 0.5
	n.busy = []float64{0.5, 1.5}
	n.rtt = []float64{0, 50, 90, 100}
	fr = sm.sample(t0.Add(2 * time.Second))
	f := fr.Total
	want := map[string][2]float64{
		"messages_in_per_s":    {f.MessagesInPerSec, 5},
		"messages_out_per_s":   {f.MessagesOutPerSec, 2},
		"deliveries_per_s":     {f.DeliveriesPerSec, 200},
		"bytes_in_per_s":       {f.BytesInPerSec, 1000},
		"bytes_out_per_s":      {f.BytesOutPerSec, 40000},
		"opened_per_s":         {f.OpenedPerSec, 3},
		"slow_consumers_per_s": {f.SlowConsumersPerSec, 1},
		"slow_consumers":       {f.SlowConsumers, 2},
		"cpu_cores":            {f.CPUCores, 0.25},
		"loop_busy":            {f.LoopBusy, 0.5}, // loops at 0.25 and 0.75
		"loop_busy_max":        {f.LoopBusyMax, 0.75},
	}
	for k, v := range want {
		if math.Abs(v[0]-v[1]) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, v[0], v[1])
		}
	}
	if f.Loops != 2 || fr.Nodes[0].DeliveriesPerSec != 200 {
		t.Errorf("loops %d, node deliveries %v", f.Loops, fr.Nodes[0].DeliveriesPerSec)
	}
	q := f.PingRTT
	// 50 pongs in (0.001, 0.01], 40 in (0.01, 0.1], 10 over 0.1 (+Inf).
	if q.Count != 100 || q.P50 == nil || math.Abs(*q.P50-0.01) > 1e-12 || math.Abs(*q.P90-0.1) > 1e-12 || *q.P99 != 0.1 || q.WindowS != 2 {
		t.Fatalf("RTT quantiles %+v (p50 %v p90 %v p99 %v), want 100 pongs, 0.01, 0.1, 0.1 over 2 s", q, deref(q.P50), deref(q.P90), deref(q.P99))
	}

	// A counter that goes down is a restart: its whole value is new.
	n.in = 3
	fr = sm.sample(t0.Add(3 * time.Second))
	if fr.Total.MessagesInPerSec != 3 {
		t.Fatalf("after a counter reset: %v messages/s, want 3", fr.Total.MessagesInPerSec)
	}
	// No connections: no memory per connection (null, not infinity).
	n.conns = 0
	fr = sm.sample(t0.Add(4 * time.Second))
	if fr.Total.MemoryPerConn != nil {
		t.Fatalf("memory per connection without connections: %v", *fr.Total.MemoryPerConn)
	}

	// The charts keep the last Keep points, oldest first.
	h := string(sm.history())
	if strings.Count(h, `"ts":`) != 3 || !strings.Contains(h, `"interval_ms":1000`) || !strings.Contains(h, fmt.Sprintf(`"ts":%d`, t0.Add(2*time.Second).UnixMilli())) || strings.Contains(h, fmt.Sprintf(`"ts":%d,`, t0.UnixMilli())) {
		t.Fatalf("history: %s", h)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// The RTT quantiles cover the last RTTWindow: pongs counted before it do
// not weigh in.
func TestSamplerRTTWindow(t *testing.T) {
	n := &fakeNode{rtt: []float64{0, 0, 0, 0}}
	sm := newSampler([]Source{{Node: "a", Write: n.Write}}, nil, time.Second, 10)
	t0 := time.Unix(1700000000, 0)
	sm.sample(t0)
	n.rtt = []float64{100, 100, 100, 100} // 100 fast pongs early on
	sm.sample(t0.Add(time.Second))
	for s := 2; s <= 70; s++ {
		if s == 70 {
			n.rtt = []float64{100, 100, 110, 110} // 10 slower pongs at the end
		}
		sm.sample(t0.Add(time.Duration(s) * time.Second))
	}
	fr := sm.sample(t0.Add(71 * time.Second))
	q := fr.Total.PingRTT
	if q.Count != 10 || q.P50 == nil || *q.P50 <= 0.01 || *q.P50 > 0.1 || q.WindowS < 60 || q.WindowS > 62 {
		t.Fatalf("window quantiles %+v (p50 %v): want the 10 recent pongs in (0.01, 0.1] over about 60 s", q, deref(q.P50))
	}
	if len(sm.nodes["a"]) > 64 {
		t.Fatalf("kept %d snapshots for a 60 s window at 1 s", len(sm.nodes["a"]))
	}
}

// Several nodes: the frame lists each, the total adds them up, and a node
// that cannot be read is marked down without spoiling the others.
func TestSamplerNodes(t *testing.T) {
	a := &fakeNode{conns: 10, rss: 1000, busy: []float64{0}}
	b := &fakeNode{conns: 30, rss: 3000, busy: []float64{0, 0, 0}}
	sm := newSampler([]Source{{Node: "a", Write: a.Write}, {Node: "b", Write: b.Write}}, nil, time.Second, 10)
	t0 := time.Unix(1700000000, 0)
	sm.sample(t0)
	a.deliveries, b.deliveries = 100, 300
	a.busy, b.busy = []float64{1}, []float64{0, 0, 0}
	fr := sm.sample(t0.Add(time.Second))
	if len(fr.Nodes) != 2 || fr.Nodes[0].Connections != 10 || fr.Nodes[1].Connections != 30 {
		t.Fatalf("nodes %+v", fr.Nodes)
	}
	tot := fr.Total
	if tot.Connections != 40 || tot.DeliveriesPerSec != 400 || tot.MemoryPerConn == nil || *tot.MemoryPerConn != 100 {
		t.Fatalf("total %+v", tot)
	}
	if tot.Loops != 4 || tot.LoopBusy != 0.25 || tot.LoopBusyMax != 1 {
		t.Fatalf("total loops %d busy %v max %v, want 4 loops, 0.25, 1", tot.Loops, tot.LoopBusy, tot.LoopBusyMax)
	}
	b.err = errors.New("connection refused")
	fr = sm.sample(t0.Add(2 * time.Second))
	if fr.Nodes[1].Up || !strings.Contains(fr.Nodes[1].Error, "connection refused") || !fr.Nodes[0].Up || fr.Total.Connections != 10 {
		t.Fatalf("with b down: nodes %+v total %+v", fr.Nodes, fr.Total)
	}
}

// BenchmarkSample is the status page's cost per interval for one node
// with an exposition the size of c1m's (about 250 series, with the Go
// runtime's histograms): parse, figures, JSON.
func BenchmarkSample(b *testing.B) {
	n := &fakeNode{conns: 1000, rss: 1 << 30, busy: []float64{1, 2}, rtt: []float64{1, 2, 3, 4}}
	write := func(w io.Writer) error {
		if err := n.Write(w); err != nil {
			return err
		}
		for i := range 200 {
			fmt.Fprintf(w, "go_sched_latencies_seconds_bucket{le=\"%g\"} %d\n", float64(i)*1e-6, i)
		}
		return nil
	}
	sm := newSampler([]Source{{Node: "a", Write: write}}, nil, time.Second, 300)
	t0 := time.Unix(1700000000, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n.in++
		fr := sm.sample(t0.Add(time.Duration(i) * time.Second))
		if _, err := json.Marshal(fr); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSamplerPeers: a cluster's other nodes, as Peers returns them at each
// sample, are shown and counted while they are there, and forgotten when
// they leave.
func TestSamplerPeers(t *testing.T) {
	a := &fakeNode{conns: 10, rss: 1000, busy: []float64{0}}
	b := &fakeNode{conns: 30, rss: 3000, busy: []float64{0}}
	var peers []Source
	sm := newSampler([]Source{{Node: "a", Write: a.Write}}, func() []Source { return peers }, time.Second, 10)
	t0 := time.Unix(1700000000, 0)
	if fr := sm.sample(t0); len(fr.Nodes) != 1 || fr.Total.Connections != 10 {
		t.Fatalf("alone: %+v", fr)
	}
	peers = []Source{{Node: "b", Write: b.Write}}
	if fr := sm.sample(t0.Add(time.Second)); len(fr.Nodes) != 2 || fr.Nodes[1].Node != "b" || fr.Total.Connections != 40 {
		t.Fatalf("with peer b: %+v", fr)
	}
	peers = nil
	if fr := sm.sample(t0.Add(2 * time.Second)); len(fr.Nodes) != 1 || fr.Total.Connections != 10 || len(sm.nodes) != 1 {
		t.Fatalf("b gone: %+v, %d nodes kept", fr, len(sm.nodes))
	}
}
