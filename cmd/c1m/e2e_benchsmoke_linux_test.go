//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/bench"

	"c1m/internal/c1mtest"
)

// TestBenchSmoke is `make bench-smoke`: the benchmark in local mode at a
// size this box runs in well under three minutes — 30,000 connections
// over two servers and two workers, the idle hold, five broadcasts and the
// slow scenario. It asserts what users rely on from the benchmark: every
// connection got every broadcast, the slow clients were closed by the
// servers without the others missing anything, and the report files exist
// and parse. Then a small --compare raw,c1m keeps the floor working
// (benchCompareSmoke).
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the benchmark smoke takes about half a minute; run without -short")
	}
	bin := c1mtest.Binary(t)
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(bin, "bench", "--conns", "30000", "--servers", "2", "--workers", "2",
		"--scenario", "idle,broadcast,slow", "--broadcasts", "5", "--hold", "3s",
		"--base-port", "28080", "--out", out)
	cmd.Env = c1mtest.Env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("c1m bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("c1m bench did not finish in 3 minutes\nstderr:\n%s", stderr.String())
	}
	t.Logf("c1m bench:\n%s", stdout.String())

	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json does not parse: %v", err)
	}
	if rep.Held != 30000 || rep.Failed != 0 {
		t.Fatalf("held %d, failed %d; want all 30000", rep.Held, rep.Failed)
	}
	// The memory per connection (bench/memory.go) is measured after a
	// full collection in every server, against an empty server, and
	// charges the fd-indexed tables of servers sized for the run.
	m := rep.Memory
	if m == nil || len(m.After) != 2 || m.PerConn != rep.ServerBytesPerConn {
		t.Fatalf("memory measurement %+v: want both servers read at full count, and its figure as the report's", m)
	}
	if rep.ServerBytesPerConn <= 0 || rep.ServerBytesPerConn > 256 {
		t.Fatalf("server memory per connection %.0f B (tables %.0f, heap %.0f, stacks %.0f, rest %.0f), want within the 256 B budget",
			rep.ServerBytesPerConn, m.Tables, m.Heap, m.Stacks, m.Rest)
	}
	if m.Tables <= 0 || m.Tables >= m.PerConn {
		t.Fatalf("fd-indexed tables %.0f B of %.0f B per connection: want them charged, and not all of it", m.Tables, m.PerConn)
	}
	phases := map[string]bench.PhaseResult{}
	for _, p := range rep.Phases {
		phases[p.Name] = p
	}
	bc, ok := phases["broadcast"]
	if !ok || bc.Messages != 5 || bc.Receivers != 30000 || bc.Complete != 30000 || bc.Extra != 0 {
		t.Fatalf("broadcast phase %+v: want 5 messages to all 30000, each exactly once", bc)
	}
	if bc.Deliveries != 5*30000 {
		t.Fatalf("broadcast deliveries %d, want %d", bc.Deliveries, 5*30000)
	}
	sl, ok := phases["slow"]
	if !ok || sl.Flood == nil {
		t.Fatalf("slow phase missing: %+v", sl)
	}
	if sl.Slow == 0 || sl.ServerSlowClosed != sl.Slow {
		t.Fatalf("slow phase: %d slow clients, %d closed by the servers; want every slow client closed", sl.Slow, sl.ServerSlowClosed)
	}
	if sl.Complete != sl.Receivers || sl.Flood.Complete != sl.Flood.Receivers || sl.Receivers != 30000-sl.Slow {
		t.Fatalf("slow phase: the readers missed messages: %d/%d complete, flood %d/%d", sl.Complete, sl.Receivers, sl.Flood.Complete, sl.Flood.Receivers)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "| broadcast | 5 |") || !strings.Contains(string(md), "Machine:") {
		t.Fatalf("report.md: %v\n%s", err, md)
	}
	for _, name := range []string{"memory.svg", "connections.svg", "latency.svg"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(f)
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed XML: %v", name, err)
			}
		}
		f.Close()
	}
	benchCompareSmoke(t)
}

// benchCompareSmoke runs `c1m bench --compare raw,c1m` at 5,000
// connections: both servers hold every connection and deliver every
// broadcast, and the one report parses and puts them side by side with
// ratios to the floor.
func benchCompareSmoke(t *testing.T) {
	const conns, broadcasts = 5000, 5
	dir := runBenchCmd(t, 2*time.Minute, "--compare", "raw,c1m", "--conns", strconv.Itoa(conns), "--servers", "1", "--workers", "1",
		"--scenario", "idle,broadcast", "--broadcasts", strconv.Itoa(broadcasts), "--interval", "500ms", "--hold", "1s",
		"--base-port", "30000")
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c bench.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("the comparison's report.json does not parse: %v", err)
	}
	if strings.Join(c.Servers, ",") != "raw,c1m" || c.Floor != "raw" || len(c.Runs) != 2 {
		t.Fatalf("comparison of %v (floor %q) with %d runs; want raw,c1m against raw", c.Servers, c.Floor, len(c.Runs))
	}
	for _, r := range c.Runs {
		if r.Held != conns || r.Failed != 0 || len(r.Phases) != 1 {
			t.Fatalf("%s: held %d, failed %d, %d phases; want all %d and the broadcast", r.Server, r.Held, r.Failed, len(r.Phases), conns)
		}
		if p := r.Phases[0]; p.Complete != conns || p.Extra != 0 || p.Deliveries != conns*broadcasts {
			t.Fatalf("%s broadcast: %d/%d complete, %d deliveries; want every connection to get %d messages once", r.Server, p.Complete, p.Receivers, p.Deliveries, broadcasts)
		}
	}
	rows := map[string]bench.CompareRow{}
	for _, r := range c.Rows {
		rows[r.Measure] = r
	}
	for _, m := range []string{"ramp", "server memory per connection", "broadcast latency p50", "broadcast latency p99",
		"broadcast latency max", "server CPU per delivery", "probe RTT p99 during the broadcasts"} {
		r, ok := rows[m]
		if !ok || len(r.Ratios) != 2 || r.Ratios[0] != 1 || !(r.Ratios[1] > 0) {
			t.Errorf("row %q: %+v; want both values and c1m's ratio to the floor", m, r)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(md), "| measure | raw | c1m | c1m ÷ raw |") || !strings.Contains(string(md), "](latency.svg)") {
		t.Fatalf("the comparison's report.md: %v\n%s", err, md)
	}
}
