package bench

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

const testAgentKey = "agent-unit-test-key-0123"

// startTestAgent serves an agent on 127.0.0.1:0 until the test ends. Its
// Exe does not exist: these tests plan and sample clocks, they start no
// worker (the end-to-end test in cmd/c1m does).
func startTestAgent(t *testing.T, cfg AgentConfig) *Agent {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.Exe == "" {
		cfg.Exe = "/nonexistent/c1m"
	}
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return a
}

func TestNewAgentRefusesNoKeyOffLoopback(t *testing.T) {
	f := func(listen, key, want string) {
		t.Helper()
		a, err := NewAgent(AgentConfig{Listen: listen, Key: []byte(key), Exe: "/nonexistent/c1m"})
		if a != nil {
			a.ln.Close()
		}
		switch {
		case want == "" && err != nil:
			t.Fatalf("NewAgent(%q, key %q): %v", listen, key, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("NewAgent(%q, key %q) = %v, want an error with %q", listen, key, err, want)
		}
	}
	f("0.0.0.0:0", "", "without an agent key: give --agent-key or set C1M_AGENT_KEY")
	f(":0", "", "without an agent key")
	f("0.0.0.0:0", "short", "give at least 16")
	f("127.0.0.1:0", "", "")
	f("localhost:0", "", "")
	f("0.0.0.0:0", testAgentKey, "")
	f("nonsense", testAgentKey, "want host:port")
}

func TestAgentKey(t *testing.T) {
	a := startTestAgent(t, AgentConfig{Key: []byte(testAgentKey)})
	addr := a.Addr().String()
	ctx := context.Background()
	if _, err := connectAgent(ctx, addr, []byte("wrong-key-wrong-key-wrong")); err == nil || !strings.Contains(err.Error(), "agent "+addr+" refused the key") {
		t.Fatalf("wrong key: %v; want the agent to refuse it", err)
	}
	c, err := connectAgent(ctx, addr, []byte(testAgentKey))
	if err != nil {
		t.Fatalf("right key: %v", err)
	}
	c.close()
}

// TestAgentMustProveKey: an impostor that greets like an agent but does
// not hold the key is refused by the orchestrator.
func TestAgentMustProveKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		n, _ := agentNonce()
		_ = writeMsg(c, agentMsg{Type: "hello", Version: agentVersion, Nonce: n})
		_, _ = readMsg(bufio.NewReader(c))
		_ = writeMsg(c, agentMsg{Type: "ok", MAC: agentMAC([]byte("another-key-another-key"), "c1m-agent-proof", n)})
	}()
	_, err = connectAgent(context.Background(), ln.Addr().String(), []byte(testAgentKey))
	if err == nil || !strings.Contains(err.Error(), "did not prove it holds the key") {
		t.Fatalf("impostor: %v; want it refused", err)
	}
}

func TestAgentUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := connectAgent(context.Background(), addr, []byte(testAgentKey)); err == nil || !strings.Contains(err.Error(), "cannot reach agent "+addr) {
		t.Fatalf("closed port: %v; want cannot reach", err)
	}
}

// TestAgentClock: the offset of an agent whose clock is 90 s ahead is
// measured within its bound, as NTP's arithmetic promises on one clock.
func TestAgentClock(t *testing.T) {
	const skew = 90 * time.Second
	a := startTestAgent(t, AgentConfig{Key: []byte(testAgentKey), ClockSkew: skew})
	c, err := connectAgent(context.Background(), a.Addr().String(), []byte(testAgentKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	m, err := c.clock("now")
	if err != nil {
		t.Fatal(err)
	}
	want := float64(skew / time.Millisecond)
	if m.Samples != clockSamples || m.ErrorMs <= 0 || m.OffsetMs < want-m.ErrorMs-0.001 || m.OffsetMs > want+m.ErrorMs+0.001 || m.offset != m.offsetNs() {
		t.Fatalf("clock %+v; want %v ms within its bound", m, want)
	}
}

func (m ClockMeasure) offsetNs() int64 { return int64(m.OffsetMs * float64(time.Millisecond)) }

func TestBestClock(t *testing.T) {
	// An agent 5 ms ahead; one-way delays 1+1, 3+1 (asymmetric) and 0.2+0.2 ms.
	ms := int64(time.Millisecond)
	mk := func(t0, up, down int64) clockSample {
		return clockSample{t0: t0, t1: t0 + up + 5*ms, t2: t0 + up + 5*ms, t3: t0 + up + down}
	}
	m := bestClock("x", []clockSample{mk(0, ms, ms), mk(100*ms, 3*ms, ms), mk(200*ms, ms/5, ms/5)})
	if m.offset != 5*ms || m.ErrorMs != 0.2 {
		t.Fatalf("bestClock = %+v; want the 0.4 ms round trip: offset 5 ms ± 0.2", m)
	}
	// The asymmetric sample alone is off by half the asymmetry, inside
	// its bound.
	m = bestClock("x", []clockSample{mk(0, 3*ms, ms)})
	if m.offset != 6*ms || m.ErrorMs != 2 {
		t.Fatalf("bestClock = %+v; want 6 ms ± 2", m)
	}
}

// TestAgentPlan: the agent refuses a share it has no room for, in one
// sentence, and otherwise says how it will run it.
func TestAgentPlan(t *testing.T) {
	a := startTestAgent(t, AgentConfig{Key: []byte(testAgentKey), MaxWorkers: 1})
	c, err := connectAgent(context.Background(), a.Addr().String(), []byte(testAgentKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	targets := []string{"ws://127.0.0.1:9/ws"}
	info, err := c.plan(100, targets)
	if err != nil {
		t.Fatal(err)
	}
	if info.Workers != 1 || info.PerWorker < 100 || len(info.Sources) != 1 || info.Sources[0] != "127.0.0.1" || info.BootID == "" || info.Cores < 1 {
		t.Fatalf("plan: %+v", info)
	}
	lo, hi := portsAround(a.Addr().(*net.TCPAddr).Port)
	if lo > hi || a.Addr().(*net.TCPAddr).Port >= lo && a.Addr().(*net.TCPAddr).Port <= hi {
		t.Fatalf("ports %d-%d include the agent's own", lo, hi)
	}
	_, err = c.plan(info.PerWorker+1, targets)
	if err == nil || !strings.Contains(err.Error(), "it has room for") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("plan past its room: %v; want one sentence on its room", err)
	}
	if _, err := c.plan(0, targets); err == nil {
		t.Fatal("plan of 0 connections: want an error")
	}
	// The control session is still usable after a refusal.
	if _, err := c.clock("after"); err != nil {
		t.Fatal(err)
	}
}

// TestAgentWorkerErrors: a worker request the agent cannot run is
// answered with one sentence, not a hang.
func TestAgentWorkerErrors(t *testing.T) {
	a := startTestAgent(t, AgentConfig{Key: []byte(testAgentKey)})
	c, err := connectAgent(context.Background(), a.Addr().String(), []byte(testAgentKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	spec := WorkerSpec{Targets: []string{"ws://127.0.0.1:9/ws"}, Conns: 10, Total: 10, EndpointTotal: 10, InFlight: 64, Retries: 1}
	f := func(spec WorkerSpec, want string) {
		t.Helper()
		if _, err := c.openWorker(context.Background(), spec, jwtKey{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("openWorker(%+v): %v; want %q", spec, err, want)
		}
	}
	f(spec, "cannot start a worker") // no such binary
	bad := spec
	bad.Targets = []string{"http://x"}
	f(bad, "cannot use target")
	bad = spec
	bad.Conns = 0
	f(bad, "cannot run a worker of 0 connections")
	bad = spec
	bad.Retries = 1000
	f(bad, "retries 1000")
}

func TestSeal(t *testing.T) {
	k := sessionKeys{key: []byte(testAgentKey), agentNonce: []byte("a"), orchNonce: []byte("b")}
	s, err := k.seal("secret", []byte("the-jwt-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(s.Box), "the-jwt-secret") {
		t.Fatal("sealed box holds the secret in clear")
	}
	if b, err := k.open(s); err != nil || string(b) != "the-jwt-secret" {
		t.Fatalf("open = %q, %v", b, err)
	}
	other := k
	other.orchNonce = []byte("c")
	if _, err := other.open(s); err == nil {
		t.Fatal("opened with another session's keys")
	}
	s.Kind = "pem"
	if _, err := k.open(s); err == nil {
		t.Fatal("opened with another kind")
	}
}

func TestParseAgents(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := ParseAgents(in)
		if s := strings.Join(got, ","); err != nil && want != "" || err == nil && s != want {
			t.Fatalf("ParseAgents(%q) = %q, %v; want %q", in, s, err, want)
		}
	}
	f("10.0.0.2:34001, local", "10.0.0.2:34001,local")
	f("host.example:1", "host.example:1")
	f("10.0.0.2", "")
	f("10.0.0.2:0", "")
	f("local,local", "")
	f("", "")
}

// TestShares: the connections are spread evenly over the members, in
// contiguous index ranges, and only local's share is opened here.
func TestShares(t *testing.T) {
	cfg := Config{Conns: 10, Agents: []string{"a:1", AgentLocal, "b:1"}}
	hosts := newHosts(&cfg)
	next := 0
	for i, want := range []int{4, 3, 3} {
		if hosts[i].share != want || hosts[i].first != next {
			t.Fatalf("host %d: share %d from %d; want %d from %d", i, hosts[i].share, hosts[i].first, want, next)
		}
		next += want
	}
	if cfg.localShare() != 3 {
		t.Fatalf("local share %d, want 3", cfg.localShare())
	}
	cfg.Agents = []string{"a:1"}
	if cfg.localShare() != 0 {
		t.Fatalf("local share without local: %d", cfg.localShare())
	}
	cfg.Agents = nil
	if cfg.localShare() != 10 {
		t.Fatalf("local share without agents: %d", cfg.localShare())
	}
}

func TestCheckAgents(t *testing.T) {
	f := func(cfg Config, want string) {
		t.Helper()
		if cfg.ServerHost == "" {
			cfg.ServerHost = "127.0.0.1"
		}
		err := cfg.checkAgents()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Fatalf("checkAgents(%+v) = %v; want %q", cfg, err, want)
		}
	}
	f(Config{Conns: 10, Agents: []string{"10.0.0.2:1"}}, "without their key")
	f(Config{Conns: 10, Agents: []string{"10.0.0.2:1"}, AgentKey: testAgentKey}, "give --server-host")
	f(Config{Conns: 10, Agents: []string{"10.0.0.2:1"}, AgentKey: testAgentKey, ServerHost: "10.0.0.1"}, "")
	f(Config{Conns: 10, Agents: []string{"127.0.0.1:1"}}, "")
	f(Config{Conns: 10, Agents: []string{"127.0.0.1:1"}, Workers: 2}, "without local")
	f(Config{Conns: 1, Agents: []string{"127.0.0.1:1", AgentLocal}}, "cannot spread 1 connections")
}

func TestPortsAround(t *testing.T) {
	f := func(listen, lo, hi int) {
		t.Helper()
		if l, h := portsAround(listen); l != lo || h != hi {
			t.Fatalf("portsAround(%d) = %d-%d, want %d-%d", listen, l, h, lo, hi)
		}
	}
	f(8080, DefaultPortBase, DefaultPortMax)
	f(34001, 34002, DefaultPortMax)
	f(50000, DefaultPortBase, 49999)
}

func TestWorkerSpecArgs(t *testing.T) {
	s := WorkerSpec{Targets: []string{"ws://10.0.0.1:80/ws"}, Conns: 5, First: 10, Total: 20, EndpointFirst: 2, EndpointTotal: 10,
		Probes: 1, InFlight: 64, Retries: 10, ClockOffset: int64(1500 * time.Microsecond)}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.args("10.0.0.2", "34002-60999"), " ")
	for _, want := range []string{"--conns 5", "--first 10", "--total 20", "--endpoint-first 2", "--endpoint-total 10",
		"--sources 10.0.0.2", "--ports 34002-60999", "--clock-offset 1.5ms", "--wait-start"} {
		if !strings.Contains(got, want) {
			t.Fatalf("args %q lack %q", got, want)
		}
	}
	s.EndpointTotal = 6
	if err := s.validate(); err == nil {
		t.Fatal("a spec past its host's share: want an error")
	}
}
