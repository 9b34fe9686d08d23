package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestFormatCloses(t *testing.T) {
	f := func(in map[int]int, want string) {
		t.Helper()
		if got := formatCloses(in); got != want {
			t.Fatalf("formatCloses(%v) = %q, want %q", in, got, want)
		}
	}
	f(nil, "none")
	f(map[int]int{}, "none")
	f(map[int]int{1000: 0}, "none")
	f(map[int]int{1013: 298, 1000: 12}, "1000 × 12, 1013 × 298")
}

func TestFormatValueAndRatio(t *testing.T) {
	f := func(v float64, unit, want string) {
		t.Helper()
		if got := formatValue(v, unit); got != want {
			t.Fatalf("formatValue(%g, %q) = %q, want %q", v, unit, got, want)
		}
	}
	f(1.234, "s", "1.23 s")
	f(15171.4, "/s", "15171 /s")
	f(161.4, "B", "161 B")
	f(12.06, "MiB", "12.1 MiB")
	f(130.04, "ms", "130.0 ms")
	f(9.5, "µs", "9.50 µs")
	f(100, "%", "100.00 %")
	f(19000, "", "19000")
	row := CompareRow{Values: []float64{2, 3}, Ratios: []float64{1, 1.5}}
	if got := formatRatio(row, 1); got != "1.50×" {
		t.Fatalf("formatRatio = %q", got)
	}
	if got := formatRatio(CompareRow{Values: []float64{0, 3}, Ratios: []float64{0, 0}}, 1); got != "—" {
		t.Fatalf("formatRatio without a floor value = %q", got)
	}
	if got := formatRatio(CompareRow{Values: []float64{1, 1}}, 1); got != "—" {
		t.Fatalf("formatRatio of a row without ratios = %q", got)
	}
}

// sampleReport is a run with every field the report prints set.
func sampleReport(server string, p99, cpu float64) *Report {
	return &Report{
		Command: "c1m bench --conns 19000", Scenarios: []string{"idle", "broadcast"}, Server: server, Handler: "app",
		Machine: Machine{Cores: 2, MemTotal: 24 << 30, Kernel: "6.18", NoFile: 20000, GoVer: "go1.26"},
		Target:  19000, Servers: 1, Workers: 1, Start: "2026-11-26T00:00:00Z",
		RampSeconds: 1.25, ConnRate: 15200, Opened: 19000, Held: 19000, HoldSeconds: 5,
		ServerBytesPerConn: 160, KernelBytesPerSocket: 5000, BoxUsedBytes: 1 << 30, Auth: "HS256", TokenMintSeconds: 0.4,
		Samples: []Sample{{T: 0, Open: 0, RSS: 10 << 20}, {T: 0.5, Open: 9000, RSS: 12 << 20}, {T: 1.25, Open: 19000, RSS: 14 << 20}},
		After:   []ServerSample{{RSS: 14 << 20}},
		Memory: &Memory{PerConn: 160, Tables: 146, TableBytesPerFD: 144, Heap: 1, Stacks: 0.5, Rest: 12.5,
			NoFile: 19256, ControlNoFile: controlNoFile},
		Phases: []PhaseResult{{
			Name: "broadcast", Messages: 10, Receivers: 19000, Complete: 19000, Completeness: 1, Deliveries: 190000,
			Latency:              Percentiles{P50: p99 / 2, P90: p99 * 0.9, P99: p99, P999: p99, Max: p99 * 1.1},
			Probe:                Percentiles{P50: 1, P99: 10},
			CPUMicrosPerDelivery: cpu, Closes: map[int]int{1013: 3},
			CDF: [][2]float64{{0, 0}, {p99, 0.99}, {p99 * 1.1, 1}},
		}},
		Preflight: []string{"net.core.somaxconn is low"},
	}
}

// goSyntax matches what %v of a map, slice, pointer or struct prints.
var goSyntax = regexp.MustCompile(`map\[|&\{|\[\]|%!|<nil>|\{[A-Z][a-zA-Z]*:`)

func TestReportMarkdownHasNoGoSyntaxAndEmbedsCharts(t *testing.T) {
	md := sampleReport(ServerC1M, 130, 9.5).markdown()
	if m := goSyntax.FindString(md); m != "" {
		t.Fatalf("report.md prints Go syntax %q:\n%s", m, md)
	}
	for _, want := range []string{
		"# c1m bench: c1m server (handler app), 19000 connections, idle, broadcast",
		"| 1013 × 3 |", "![Server RSS against connections open](memory.svg)",
		"![Connections per second during the ramp](connections.svg)", "![Broadcast delivery latency (CDF)](latency.svg)",
		"HS256, one per connection, minted in 0.40 s before the ramp", "- net.core.somaxconn is low",
		"| server memory per connection ¹ | **160 B**: fd-indexed tables 146 B (144 B per fd, open-files limit 19256 per server), heap objects 1 B, goroutine stacks 0 B, the rest 12 B |",
		"¹ Server memory per connection = (anonymous RSS of the servers holding N connections",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if md := sampleReport(ServerRaw, 100, 8).markdown(); !strings.HasPrefix(md, "# c1m bench: raw floor server, 19000") {
		t.Errorf("raw report title:\n%s", md)
	}
}

func TestCompareRowsRatiosToTheFloor(t *testing.T) {
	runs := []*Report{sampleReport(ServerRaw, 100, 8), sampleReport(ServerC1M, 130, 10), sampleReport(ServerBaseline, 400, 16)}
	runs[1].ServerBytesPerConn = 320
	rows := compareRows(runs, 0)
	byName := map[string]CompareRow{}
	for _, r := range rows {
		byName[r.Measure] = r
	}
	f := func(measure string, want []float64) {
		t.Helper()
		r, ok := byName[measure]
		if !ok {
			t.Fatalf("no row %q in %+v", measure, rows)
		}
		if len(r.Ratios) != len(want) {
			t.Fatalf("%s: ratios %v, want %v", measure, r.Ratios, want)
		}
		for i := range want {
			if !near(r.Ratios[i], want[i]) {
				t.Fatalf("%s: ratios %v, want %v", measure, r.Ratios, want)
			}
		}
	}
	f("broadcast latency p99", []float64{1, 1.3, 4})
	f("server CPU per delivery", []float64{1, 1.25, 2})
	f("server memory per connection", []float64{1, 2, 1})
	f("ramp", []float64{1, 1, 1})
	f("probe RTT p99 during the broadcasts", []float64{1, 1, 1})
	if r := byName["connections held"]; len(r.Ratios) != 0 || r.Values[2] != 19000 {
		t.Fatalf("connections held: %+v, want values and no ratios", r)
	}
	// Without a broadcast phase there are no latency rows.
	for _, r := range runs {
		r.Phases = nil
	}
	for _, r := range compareRows(runs, 0) {
		if strings.HasPrefix(r.Measure, "broadcast") || strings.HasPrefix(r.Measure, "probe") {
			t.Fatalf("row %q without a broadcast phase", r.Measure)
		}
	}
}

func TestComparisonReportFiles(t *testing.T) {
	runs := []*Report{sampleReport(ServerRaw, 100, 8), sampleReport(ServerC1M, 130, 10)}
	c := &Comparison{Command: "c1m bench --compare raw,c1m", Machine: runs[0].Machine, Start: runs[0].Start,
		Servers: []string{ServerRaw, ServerC1M}, Floor: ServerRaw, Runs: runs, Rows: compareRows(runs, 0)}
	dir := t.TempDir()
	if err := c.write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| measure | raw | c1m | c1m ÷ raw |", "| broadcast latency p99 | 100.0 ms | 130.0 ms | 1.30× |",
		"## raw floor server", "## c1m server (handler app)", "![Broadcast delivery latency (CDF)](latency.svg)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if m := goSyntax.FindString(string(md)); m != "" {
		t.Errorf("report.md prints Go syntax %q", m)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(b, &back); err != nil || len(back.Runs) != 2 || back.Floor != ServerRaw || len(back.Rows) == 0 {
		t.Fatalf("report.json: %v, %+v", err, back)
	}
	for _, name := range []string{"memory.svg", "connections.svg", "latency.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, string(svg))
		if !strings.Contains(string(svg), ">raw<") || !strings.Contains(string(svg), ">c1m<") {
			t.Errorf("%s has no legend naming both servers", name)
		}
	}
}

// TestMemoryCompute checks the figure's definition on two servers: the
// RssAnon of both at full count over twice the control server's, per
// connection, and its parts from the collection reports, the control's
// own drift taken out.
func TestMemoryCompute(t *testing.T) {
	m := &Memory{NoFile: 10_256, ControlNoFile: 256,
		ControlBefore: ServerMemory{RSSAnon: 3 << 20, HeapLive: 600_000, Stacks: 500_000},
		ControlAfter:  ServerMemory{RSSAnon: 3<<20 + 100_000, HeapLive: 604_000, Stacks: 500_000},
		Before:        []ServerMemory{{RSSAnon: 5 << 20, HeapLive: 2_040_000, Stacks: 520_000}, {RSSAnon: 5 << 20, HeapLive: 2_040_000, Stacks: 500_000}},
		After: []ServerMemory{
			{RSSAnon: 3<<20 + 1_800_000, HeapLive: 2_054_000, Stacks: 510_000},
			{RSSAnon: 3<<20 + 1_800_000, HeapLive: 2_054_000, Stacks: 510_000},
		}}
	m.compute(20_000)
	f := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	f("PerConn", m.PerConn, 2*1_700_000/20_000.0)
	f("Tables", m.Tables, 2*1_440_000/20_000.0)
	f("TableBytesPerFD", m.TableBytesPerFD, 144)
	f("Heap", m.Heap, 2*10_000/20_000.0)
	f("Stacks", m.Stacks, 2*10_000/20_000.0)
	f("Rest", m.Rest, m.PerConn-m.Tables-m.Heap-m.Stacks)
	if m.Rest <= 0 {
		t.Errorf("Rest = %g: want the runtime's share left over", m.Rest)
	}
	// Without readings at full count nothing is computed.
	none := &Memory{ControlAfter: m.ControlAfter}
	none.compute(20_000)
	if none.PerConn != 0 {
		t.Errorf("PerConn without readings = %g, want 0", none.PerConn)
	}
}
