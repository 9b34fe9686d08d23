package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"c1m/broadcast"
	"c1m/server"
	"c1m/sysctl"
)

func planRun(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = runPlan(args, &o, &e)
	return code, o.String(), e.String()
}

// TestPlanMillion is the Show: c1m plan for 1,000,000 connections
// in rooms of 50 at 200 publishes/s prints a memory figure within 15 % of
// the server side of the measured million-connection run.
func TestPlanMillion(t *testing.T) {
	var run struct {
		Connections          float64 `json:"connections"`
		UserBytesPerConn     float64 `json:"server_user_bytes_per_conn"`
		KernelBytesPerSocket float64 `json:"kernel_bytes_per_socket"`
		WholeBoxUsedBytes    float64 `json:"whole_box_used_bytes"`
		ProcessBaseBytes     float64 `json:"process_base_bytes"`
	}
	b, err := os.ReadFile("testdata/plan-million.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	args := []string{"--conns", "1000000", "--room-size", "50", "--publish-rate", "200"}
	code, stdout, stderr := planRun(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p sysctl.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("--json output does not parse: %s", err)
	}
	if p.Boxes != 1 {
		t.Fatalf("plan spreads the million over %d boxes; the measured run is one box", p.Boxes)
	}
	measured := run.Connections*(run.UserBytesPerConn+run.KernelBytesPerSocket) + run.ProcessBaseBytes
	dev := (p.Memory.Total - measured) / measured
	t.Logf("plan %.2f GiB, measured server side %.2f GiB (%+.1f%%) of the whole box's %.2f GiB", p.Memory.Total/(1<<30), measured/(1<<30), dev*100, run.WholeBoxUsedBytes/(1<<30))
	if math.Abs(dev) > 0.15 {
		t.Fatalf("plan's memory %.2f GiB is %+.1f%% off the measured %.2f GiB", p.Memory.Total/(1<<30), dev*100, measured/(1<<30))
	}
	if p.DeliveriesPerSecond != 10_000 {
		t.Fatalf("deliveries/s %v, want 200 × 50", p.DeliveriesPerSecond)
	}

	// The table prints the same figures.
	code, stdout, _ = planRun(args...)
	if code != 0 {
		t.Fatalf("table: exit %d", code)
	}
	for _, want := range []string{
		fmt.Sprintf("memory, total          %.2f GiB", p.Memory.Total/(1<<30)),
		"deliveries per second  10,000",
		"net.ipv4.tcp_mem                >=750000 >=1000000 >=1500000",
		"server CPU per heartbeat",
	} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("table lacks %q:\n%s", want, stdout)
		}
	}
}

func TestPlanUsageErrors(t *testing.T) {
	f := func(args []string, wantStderr string) {
		t.Helper()
		code, stdout, stderr := planRun(args...)
		if code != 2 {
			t.Fatalf("%q: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if stdout != "" {
			t.Fatalf("%q: stdout %q, want nothing", args, stdout)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, ".\n") {
			t.Fatalf("%q: stderr %q is not one sentence on one line", args, stderr)
		}
		if !strings.Contains(stderr, wantStderr) {
			t.Fatalf("%q: stderr %q does not mention %q", args, stderr, wantStderr)
		}
	}
	ok := []string{"--conns", "1000", "--room-size", "50"}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	f([]string{"--room-size", "50"}, "connections must be between 1 and")
	f([]string{"--conns", "1000"}, "exactly one of --room-size, --rooms or --room-sizes")
	f(with("--rooms", "10"), "exactly one of")
	f([]string{"--conns", "1000", "--room-sizes", "50:90%,5000:20%"}, "--room-sizes: room shares add up to 110 %")
	f([]string{"--conns", "1000", "--room-sizes", "x"}, `--room-sizes: room size "x" is not a positive whole number`)
	f([]string{"--conns", "1000", "--room-size", "-3"}, "--room-size must be a positive number")
	f([]string{"--conns", "1000", "--room-size", "5000"}, "rooms of 5000 with 1 online hold more connections than the 1000 planned")
	f(with("--online", "lots"), "--online must be a fraction")
	f(with("--online", "0"), "online fraction must be above 0")
	f(with("--headroom", "95%"), "headroom must be between 0 and 90")
	f(with("--headroom", "x"), "--headroom must be a percentage")
	f(with("--memory", "lots"), "--memory must be a size")
	f(with("--memory", "1MiB"), "memory per box must be at least 64.0 MiB")
	f(with("--cores", "0"), "cores per box must be between 1 and")
	f(with("--size", "0"), "message size must be between 1 and")
	f(with("--publish-rate", "-1"), "publishes per second must be between 0 and")
	f(with("--target-latency", "soon"), "invalid value")
	f(with("--bogus"), "flag provided but not defined: -bogus")
	f(with("extra"), `unexpected argument "extra"`)
}

func TestPlanHelp(t *testing.T) {
	code, stdout, _ := planRun("--help")
	if code != 0 || !strings.Contains(stdout, "--room-sizes DIST") || !strings.Contains(stdout, "50:90%,5000:10%") {
		t.Fatalf("exit %d, help %q", code, stdout)
	}
}

func TestPlanInputsParsed(t *testing.T) {
	code, stdout, stderr := planRun("--conns", "200000", "--room-sizes", "50:90%,5000:10%", "--publish-rate", "100",
		"--size", "256", "--online", "80%", "--target-latency", "50ms", "--headroom", "20", "--cores", "4", "--memory", "16GiB",
		"--ping-interval", "1m", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var p sysctl.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	in := p.Input
	if in.Connections != 200_000 || len(in.Rooms) != 2 || in.Rooms[1] != (sysctl.RoomShare{Size: 5000, Share: 0.1}) ||
		in.PublishesPerSecond != 100 || in.MessageBytes != 256 || in.OnlineFraction != 0.8 || in.TargetLatency != 50*time.Millisecond ||
		in.HeadroomPercent != 20 || in.CoresPerBox != 4 || in.MemoryPerBox != 16<<30 || in.PingInterval != time.Minute {
		t.Fatalf("inputs %+v", in)
	}
	if p.LargestRoom != 5000 || p.DeliveriesPerSecond != 100*(0.9*50+0.1*5000)*0.8 {
		t.Fatalf("largest room %d, deliveries/s %v", p.LargestRoom, p.DeliveriesPerSecond)
	}
}

// TestPlanConstantsMatchEngine keeps the model's engine facts equal to the
// engine's own defaults.
func TestPlanConstantsMatchEngine(t *testing.T) {
	if sysctl.PlanChunkSize != broadcast.DefaultChunkSize {
		t.Fatalf("plan chunk %d, broadcast.DefaultChunkSize %d", sysctl.PlanChunkSize, broadcast.DefaultChunkSize)
	}
	if sysctl.PlanPingInterval*time.Second != server.DefaultPingInterval {
		t.Fatalf("plan ping interval %ds, server default %s", sysctl.PlanPingInterval, server.DefaultPingInterval)
	}
	data := bytes.Repeat([]byte("1"), 64)
	frame := broadcast.EncodeMessage(broadcast.ToRoom("room-00001"), "user-000001", 123456, time.Now().UnixMilli(), data)
	if got := len(frame) - len(data); got != sysctl.PlanEnvelopeBytes {
		t.Fatalf("a 64-byte message is framed in %d extra bytes, the plan says %d", got, sysctl.PlanEnvelopeBytes)
	}
}
