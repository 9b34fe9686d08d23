//go:build linux

package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"c1m/bench"
)

// agentTestKey is the agents' key in these tests.
const agentTestKey = "c1m-agent-test-key-0123456789"

// Ports of these tests. The agents' (34001-34009) are in their own
// namespaces. The servers' (3 from each base, and 3 more for the memory
// control server) are in the root namespace, in 24100-24999: below the
// ephemeral range (32768-60999), where a source port picked by the kernel
// or by another test's benchmark workers, even one in TIME_WAIT, would
// make a listener's bind fail.
const (
	agentTestPort     = 34001
	agentTestRoomPort = 34002
	agentTestBase     = 24100 // the refusals never start a server
)

var (
	agentTestRunBases  = []int{24110, 24410, 24710}
	agentTestDeadBases = []int{24210, 24510, 24810}
)

// TestBenchAgents drives two agents, each in a network namespace of its
// own, from an orchestrator in the root namespace whose c1m server listens
// on a veth address: the key is enforced (a wrong one is refused, an agent
// without one refuses to listen off loopback), an unreachable agent and an
// agent without the open-files room for its share are refused with one
// sentence, and a run through both holds every connection, delivers every
// broadcast to every connection exactly once (with HS256 tokens minted on
// the agents), and reports per-agent figures, each agent's clock offset
// (measured within its bound, including one agent's clock set 10 minutes
// off) and each agent's loadgen shortfalls. Then one agent is killed
// mid-run: the run finishes, reports it lost, and covers the other.
func TestBenchAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("makes network namespaces and runs the benchmark through them for about a minute; run without -short")
	}
	nsA, nsB := newAgentNetns(t, "a", 1), newAgentNetns(t, "b", 2)
	// A loadgen shortfall the report must list for agent a only.
	nsA.setSysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	nsB.setSysctl(t, "net.ipv4.tcp_tw_reuse", "1")
	keyEnv := []string{bench.AgentKeyEnv + "=" + agentTestKey}
	const skew = 10 * time.Minute
	agentA := startAgent(t, nsA, agentTestPort, keyEnv, nil)
	agentB := startAgent(t, nsB, agentTestPort, keyEnv, nil, "--clock-skew", skew.String())
	agents := agentA.addr + "," + agentB.addr
	serverHost := nsA.root

	t.Run("refusals", func(t *testing.T) {
		f := func(env []string, want string, args ...string) {
			t.Helper()
			res := runBenchIn(t, time.Minute, env, nil, append([]string{"--conns", "100", "--base-port", strconv.Itoa(agentTestBase),
				"--server-host", serverHost, "--scenario", "idle", "--hold", "0s"}, args...)...)
			if res.code != 1 || !strings.Contains(res.stderr, want) || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
				t.Fatalf("c1m bench %v: exit %d, stderr %q; want exit 1 and the one sentence %q", args, res.code, res.stderr, want)
			}
		}
		f([]string{bench.AgentKeyEnv + "=wrong-key-wrong-key-wrong"}, "agent "+agentA.addr+" refused the key", "--agents", agents)
		f(keyEnv, "cannot reach agent "+nsA.addr+":34009", "--agents", nsA.addr+":34009")
		// An agent whose worker processes have an open-files limit of
		// 1,100 and which runs at most one: room for 844 connections,
		// not 2,000.
		if _, err := os.Stat("/usr/bin/prlimit"); err != nil {
			t.Fatalf("the room test needs prlimit(1) from util-linux: %v", err)
		}
		small := startAgent(t, nsA, agentTestRoomPort, keyEnv, []string{"prlimit", "--nofile=1100:1100"}, "--max-workers", "1")
		f(keyEnv, "cannot use agent "+small.addr+": it has room for 844 connections", "--agents", small.addr, "--conns", "2000")
		if !strings.Contains(agentA.output(), "refused a session from "+nsA.root) {
			t.Errorf("agent a did not log the wrong key:\n%s", agentA.output())
		}
		// No key off loopback: the agent refuses to start.
		out, err := runAgentOnce(t, nsB, "--listen", nsB.addr+":34003")
		if err == nil || !strings.Contains(out, "cannot listen on "+nsB.addr+":34003 without an agent key") {
			t.Fatalf("agent without a key: %v, %q; want a refusal", err, out)
		}
	})

	t.Run("run", func(t *testing.T) {
		const conns, broadcasts = 4000, 5
		res := runBenchPorts(t, agentTestRunBases, 3*time.Minute, keyEnv, nil, "--agents", agents, "--server-host", serverHost,
			"--conns", strconv.Itoa(conns), "--scenario", "idle,broadcast", "--broadcasts", strconv.Itoa(broadcasts),
			"--interval", "300ms", "--hold", "1s", "--jwt-secret", "c1m-bench-agents-test-secret-0123456789")
		if res.code != 0 {
			t.Fatalf("c1m bench through two agents: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		t.Logf("c1m bench:\n%s", res.stdout)
		rep := readReport(t, res.dir)
		if rep.Held != conns || rep.Failed != 0 || rep.Auth != "HS256" {
			t.Fatalf("held %d, failed %d, auth %s; want all %d held with HS256 tokens", rep.Held, rep.Failed, rep.Auth, conns)
		}
		if len(rep.Phases) != 1 {
			t.Fatalf("phases %+v; want the broadcast", rep.Phases)
		}
		if p := rep.Phases[0]; p.Receivers != conns || p.Complete != conns || p.Extra != 0 || p.Deliveries != conns*broadcasts {
			t.Fatalf("broadcast: %d/%d complete, %d duplicated, %d deliveries; want each of %d broadcasts delivered to every connection once",
				p.Complete, p.Receivers, p.Extra, p.Deliveries, broadcasts)
		}
		if len(rep.Agents) != 2 || rep.Agents[0].Name != agentA.addr || rep.Agents[1].Name != agentB.addr {
			t.Fatalf("agents %+v; want %s and %s", rep.Agents, agentA.addr, agentB.addr)
		}
		if !strings.Contains(rep.Clock, "NTP-style") {
			t.Errorf("the report does not say how clocks were reconciled: %q", rep.Clock)
		}
		for i, a := range rep.Agents {
			n := []agentNetns{nsA, nsB}[i]
			if a.Share != conns/2 || a.Held != conns/2 || a.Opened != conns/2 || a.Failed != 0 || a.Workers < 1 || !a.SameKernel || a.RampSeconds <= 0 {
				t.Errorf("agent %s: %+v; want its %d connections held by its workers, with its ramp", a.Name, a, conns/2)
			}
			if len(a.Sources) != 1 || a.Sources[0] != n.addr {
				t.Errorf("agent %s: sources %v; want its own address %s", a.Name, a.Sources, n.addr)
			}
			if len(a.Phases) != 1 {
				t.Fatalf("agent %s: phases %+v; want the broadcast", a.Name, a.Phases)
			}
			p := a.Phases[0]
			// Every delivery of the skewed agent fits the histogram (2
			// minutes) only if its 10-minute offset was removed.
			if p.Receivers != conns/2 || p.Complete != conns/2 || p.Extra != 0 || p.Deliveries != conns/2*broadcasts ||
				!(p.Latency.P50 > 0) || p.Latency.P99 < p.Latency.P50 {
				t.Errorf("agent %s broadcast: %+v; want every delivery of its %d connections, once each, with p50 and p99", a.Name, p, conns/2)
			}
			// The offset: 0 (the namespaces share the kernel's clock) or
			// the skew, within the bound the measurement gives.
			want := 0.0
			if i == 1 {
				want = float64(skew / time.Millisecond)
			}
			if len(a.Clock) != 2 {
				t.Errorf("agent %s: clock measures %+v; want one before the ramp and one before the broadcasts", a.Name, a.Clock)
			}
			for _, c := range a.Clock {
				if c.Samples < 1 || c.ErrorMs <= 0 || math.Abs(c.OffsetMs-want) > c.ErrorMs+0.001 {
					t.Errorf("agent %s: clock %+v; want an offset of %.0f ms within its bound", a.Name, c, want)
				}
			}
		}
		has := func(a bench.AgentReport, key string) bool {
			for _, r := range a.Loadgen {
				if r.Key == key {
					return true
				}
			}
			return false
		}
		if !has(rep.Agents[0], "net.ipv4.tcp_tw_reuse") || has(rep.Agents[1], "net.ipv4.tcp_tw_reuse") {
			t.Errorf("loadgen shortfalls %+v / %+v; want tcp_tw_reuse short on agent a only", rep.Agents[0].Loadgen, rep.Agents[1].Loadgen)
		}
		md, err := os.ReadFile(filepath.Join(res.dir, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), "| +600000.") && !strings.Contains(string(md), "| +599999.") {
			t.Errorf("report.md does not show agent b's 10-minute clock offset:\n%s", md)
		}
		for _, want := range []string{"| load generator | host |", "| " + agentA.addr + " |", "| broadcast | " + agentB.addr + " | 2000 / 2000 |",
			"NTP-style", "Loadgen tuning the agents lack", agentA.addr + ", net.ipv4.tcp_tw_reuse"} {
			if !strings.Contains(string(md), want) {
				t.Errorf("report.md lacks %q:\n%s", want, md)
			}
		}
	})

	t.Run("agent dies", func(t *testing.T) {
		const conns = 2000
		killed := make(chan struct{})
		watch := func(line string) {
			if strings.HasPrefix(line, "hold:") {
				select {
				case <-killed:
				default:
					_ = agentB.cmd.Process.Signal(syscall.SIGKILL)
					close(killed)
				}
			}
		}
		res := runBenchPorts(t, agentTestDeadBases, 3*time.Minute, keyEnv, watch, "--agents", agents, "--server-host", serverHost,
			"--conns", strconv.Itoa(conns), "--scenario", "idle,broadcast", "--broadcasts", "3", "--interval", "300ms",
			"--hold", "6s")
		select {
		case <-killed:
		default:
			t.Fatalf("the run never reached its hold:\n%s", res.stderr)
		}
		if res.code != 1 || !strings.Contains(res.stderr, "lost 1 of 2 worker processes mid-run (agent "+agentB.addr+" worker 1 was lost during the hold") {
			t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and agent b's worker reported lost during the hold", res.code, res.stderr)
		}
		rep := readReport(t, res.dir)
		if len(rep.Lost) != 1 || len(rep.Agents) != 2 || len(rep.Agents[1].Lost) != 1 || len(rep.Agents[0].Lost) != 0 {
			t.Fatalf("lost %v, agents %+v; want agent b's one worker lost", rep.Lost, rep.Agents)
		}
		if rep.Held != conns/2 || len(rep.Phases) != 1 || rep.Phases[0].Complete != conns/2 || rep.Phases[0].Receivers != conns/2 {
			t.Fatalf("held %d, phases %+v; want agent a's %d connections held and served", rep.Held, rep.Phases, conns/2)
		}
	})
}

// runAgentOnce runs `c1m bench agent args...` in n and returns its
// output; it must exit by itself.
func runAgentOnce(t *testing.T, n agentNetns, args ...string) (string, error) {
	t.Helper()
	cmd := execNetns(t, n, args...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("c1m bench agent %v did not exit", args)
	}
	return string(out), err
}
