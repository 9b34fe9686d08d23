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
// and parse.
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
	if rep.ServerBytesPerConn <= 0 || rep.ServerBytesPerConn > 256 {
		t.Fatalf("server user-space memory per connection %.0f B, want within the 256 B budget", rep.ServerBytesPerConn)
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
}
