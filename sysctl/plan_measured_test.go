package sysctl

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// benchRun is the part of a c1m bench report.json that the model is
// checked against (testdata/plan/*.json, each naming its command).
type benchRun struct {
	Command              string  `json:"command"`
	Connections          int     `json:"connections"`
	Servers              int     `json:"servers"`
	Workers              int     `json:"workers"`
	ProbesPerWorker      int     `json:"probes_per_worker"`
	PingIntervalSeconds  float64 `json:"ping_interval_seconds"`
	ServerRSSAfterBytes  float64 `json:"server_rss_after_bytes"`
	KernelBytesPerSocket float64 `json:"kernel_bytes_per_socket"`
	Phases               []struct {
		Name                 string  `json:"name"`
		Messages             int     `json:"messages"`
		Deliveries           float64 `json:"deliveries"`
		Seconds              float64 `json:"seconds"`
		CPUMicrosPerDelivery float64 `json:"server_cpu_us_per_delivery"`
	} `json:"phases"`
}

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "plan", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %s", name, err)
	}
}

// The model's stated accuracy against measured runs (docs/operations.md,
// "Capacity planning"): memory within 15 %; CPU within 30 %, the spread
// of CPU per delivery between identical runs on the shared 2-core box.
const (
	memoryTolerance = 0.15
	cpuTolerance    = 0.30
)

// probeHz is how often each probe connection of the benchmark pings
// during a phase (bench: every 20 ms).
const probeHz = 50

// TestPlanAgainstBench checks the model's memory and CPU against c1m
// bench runs it was not fitted to: 19,000 connections on one server
// process (three runs), 100,000 on six, 1,000,000 on 51.
func TestPlanAgainstBench(t *testing.T) {
	var runs []benchRun
	for _, f := range []string{"bench-19k-broadcast.json", "bench-100k-broadcast-rooms.json", "bench-1m-idle.json"} {
		var file struct{ Runs []benchRun }
		loadJSON(t, f, &file)
		if len(file.Runs) == 0 {
			t.Fatalf("%s: no runs", f)
		}
		runs = append(runs, file.Runs...)
	}
	phases := 0
	for _, r := range runs {
		n := r.Connections
		// Server memory: one base per process and the per-connection
		// cost; the kernel's per socket.
		m := memoryOf(n, r.Servers)
		within(t, r.Command, "server RSS at full count", m.User, r.ServerRSSAfterBytes, memoryTolerance)
		within(t, r.Command, "kernel memory per socket", PlanKernelBytesPerSocket, r.KernelBytesPerSocket, memoryTolerance)

		// Server CPU of each phase: its deliveries at the model's cost for
		// n connections on the box, its publishes (each posted to every
		// server), the heartbeats of its connections and the probes' pings.
		for _, ph := range r.Phases {
			heartbeats := (float64(n)/r.PingIntervalSeconds + float64(r.Workers*r.ProbesPerWorker)*probeHz) * ph.Seconds
			cpu := ph.Deliveries*CPUPerDelivery(n) +
				float64(ph.Messages*r.Servers)*PlanCPUPerPublish +
				heartbeats*PlanCPUPerHeartbeat
			within(t, r.Command, ph.Name+" CPU per delivery (µs)", cpu/ph.Deliveries*1e6, ph.CPUMicrosPerDelivery, cpuTolerance)
			phases++
		}
	}
	if phases < 4 {
		t.Fatalf("only %d phases with deliveries checked", phases)
	}
}

// TestPlanConstantsFromRuns recomputes the CPU per heartbeat and per
// publish from the runs that measured them.
func TestPlanConstantsFromRuns(t *testing.T) {
	var f struct {
		Heartbeat []struct {
			Command             string  `json:"command"`
			Connections         float64 `json:"connections"`
			HoldSeconds         float64 `json:"hold_seconds"`
			PingIntervalSeconds float64 `json:"ping_interval_seconds"`
			ServerCPUSeconds    float64 `json:"server_cpu_seconds"`
		}
		Publish struct {
			Publishes            float64 `json:"publishes"`
			Deliveries           float64 `json:"deliveries"`
			CPUMicrosPerDelivery float64 `json:"server_cpu_us_per_delivery"`
		}
	}
	loadJSON(t, "bench-19k-heartbeat-publish.json", &f)
	if len(f.Heartbeat) != 2 {
		t.Fatalf("want a pair of heartbeat runs, got %d", len(f.Heartbeat))
	}
	a, b := f.Heartbeat[0], f.Heartbeat[1]
	beats := a.Connections*a.HoldSeconds/a.PingIntervalSeconds - b.Connections*b.HoldSeconds/b.PingIntervalSeconds
	within(t, a.Command, "CPU per heartbeat", PlanCPUPerHeartbeat, (a.ServerCPUSeconds-b.ServerCPUSeconds)/beats, 0.05)
	if f.Publish.Publishes != f.Publish.Deliveries {
		t.Fatalf("the publish run must have rooms of one: %v publishes, %v deliveries", f.Publish.Publishes, f.Publish.Deliveries)
	}
	within(t, "publish", "CPU per publish", PlanCPUPerPublish, f.Publish.CPUMicrosPerDelivery*1e-6-CPUPerDelivery(19_000), 0.05)
}

func within(t *testing.T, run, what string, model, measured, tol float64) {
	t.Helper()
	dev := (model - measured) / measured
	t.Logf("%s: %s: model %.4g, measured %.4g (%+.1f%%)", run, what, model, measured, dev*100)
	if math.Abs(dev) > tol {
		t.Errorf("%s: %s: model %.4g is %+.1f%% off the measured %.4g; the stated tolerance is %.0f%%", run, what, model, dev*100, measured, tol*100)
	}
}
