package cluster

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"c1m/broadcast"
)

// natsProcess is a nats-server child process (Debian's package,
// installed by .ci/run).
type natsProcess struct {
	cmd  *exec.Cmd
	port int
	dir  string
	out  *strings.Builder
}

// startNatsProcess runs nats-server with JetStream on port (0: a free
// one from the package's range), storing under dir. A missing binary
// fails the test: it is a dependency, not an option.
func startNatsProcess(t *testing.T, port int, dir string) *natsProcess {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatalf("nats-server is not installed (apt-get install nats-server; .ci/run does it): %v", err)
	}
	if port == 0 {
		port = freeRoutePort(t)
	}
	p := &natsProcess{port: port, dir: dir, out: &strings.Builder{}}
	p.cmd = exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", dir, "-n", "ext")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start nats-server: %v", err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("nats-server on port %d printed:\n%s", p.port, p.out)
		}
	})
	eventually(t, "nats-server listening", func() bool {
		c, err := net.Dial("tcp", p.addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

func (p *natsProcess) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }
func (p *natsProcess) url() string  { return "nats://" + p.addr() }

// kill stops the process hard (SIGKILL), as a crash would.
func (p *natsProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func externalConfig(t *testing.T, name string, urls ...string) Config {
	cfg := testConfig(t, name)
	cfg.Mode, cfg.URLs = ModeExternal, urls
	cfg.History = 100
	cfg.RequestTimeout = 2 * time.Second
	return cfg
}

// TestExternalNats: two nodes on one external nats-server: order,
// interest and history work against the server of the Debian package.
func TestExternalNats(t *testing.T) {
	p := startNatsProcess(t, 0, t.TempDir())
	a := startNode(t, externalConfig(t, "a", p.url()))
	b := startNode(t, externalConfig(t, "b", p.url()))
	for _, n := range []*node{a, b} {
		eventually(t, n.NodeName()+" ready", func() bool { return n.Status().State == StateReady })
	}
	room := broadcast.ToRoom("ext")
	for _, n := range []*node{a, b} {
		if err := n.Interest(room); err != nil {
			t.Fatal(err)
		}
	}
	// The subscriptions are made by each node's writer: a round trip
	// on both connections proves the server has them.
	for _, n := range []*node{a, b} {
		eventually(t, "the subscription", func() bool { return n.Stats().Subscriptions == 2 })
		if err := n.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
	}
	publishFrom(t, []*node{a, b}, room, 40, "ext")
	for _, n := range []*node{a, b} {
		eventually(t, n.NodeName()+" has all", func() bool { return n.rec.count(room) == 40 })
	}
	if !slices.Equal(seqs(a.rec.of(room)), seqs(b.rec.of(room))) {
		t.Fatal("two orders")
	}
	// nats-server 2.9 may republish two connections' messages in the
	// opposite order to their numbers; the nodes put them back.
	if s := seqs(a.rec.of(room)); !slices.IsSorted(s) {
		t.Fatalf("delivered out of sequence order: %v", s)
	}
	all := a.rec.of(room)
	res, err := historyWait(t, b.Cluster, room, all[9].Seq, 100)
	if err != nil || res.Gap || !slices.Equal(seqs(res.Messages), seqs(all[10:])) {
		t.Fatalf("history: %v gap %v, %v; want %v", seqs(res.Messages), res.Gap, err, seqs(all[10:]))
	}
	res, err = historyWait(t, b.Cluster, room, all[9].Seq, 7)
	if err != nil || !res.More || !slices.Equal(seqs(res.Messages), seqs(all[10:17])) {
		t.Fatalf("history with a limit: %v more %v, %v", seqs(res.Messages), res.More, err)
	}
}

// TestNatsRestart: NATS is killed and started again (external mode).
// Meanwhile the node reports degraded with the reason, refuses remote
// publishes and history at once, and records interest changes; after,
// it reconnects by itself, recreates the stream, is ready again, has
// resubscribed the interest it held, and the changes made while down
// have taken effect.
func TestNatsRestart(t *testing.T) {
	dir := t.TempDir()
	p := startNatsProcess(t, 0, dir)
	a := startNode(t, externalConfig(t, "a", p.url()))
	eventually(t, "ready", func() bool { return a.Status().State == StateReady })
	kept, dropped, added := broadcast.ToRoom("kept"), broadcast.ToRoom("dropped"), broadcast.ToRoom("added")
	for _, r := range []broadcast.Target{kept, dropped} {
		if err := a.Interest(r); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the subscriptions", func() bool { return a.Stats().Subscriptions == 3 })
	if err := a.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	publishWait(t, a.Cluster, kept, "a", `{"n":1}`)
	eventually(t, "a delivery", func() bool { return a.rec.count(kept) == 1 })

	p.kill()
	eventually(t, "degraded", func() bool {
		st := a.Status()
		return st.State == StateDegraded && strings.Contains(st.Reason, "disconnected from NATS")
	})
	if err := a.Publish(kept, "a", []byte(`{}`), func(uint64, error) { t.Error("callback after a refused publish") }); err != ErrNotConnected {
		t.Fatalf("Publish while NATS is down: %v", err)
	}
	if err := a.History(kept, 0, 10, func(HistoryResult, error) {}); err != ErrNotConnected {
		t.Fatalf("History while NATS is down: %v", err)
	}
	a.Release(dropped)
	if err := a.Interest(added); err != nil {
		t.Fatal(err)
	}
	a.SetCount(kept, 4) // local bookkeeping goes on

	startNatsProcess(t, p.port, dir)
	eventually(t, "ready again", func() bool { return a.Status().State == StateReady })
	if a.Stats().Reconnects < 1 {
		t.Fatalf("stats %+v: no reconnection counted", a.Stats())
	}
	// The server delivers one connection's messages in the stream's
	// order: once "added" arrives, "dropped" (published before it) would
	// have arrived too if it were still subscribed.
	publishWait(t, a.Cluster, kept, "a", `{"n":2}`)
	publishWait(t, a.Cluster, dropped, "a", `{}`)
	publishWait(t, a.Cluster, added, "a", `{}`)
	eventually(t, "the resubscribed room", func() bool { return a.rec.count(kept) == 2 })
	eventually(t, "the room added while down", func() bool { return a.rec.count(added) == 1 })
	if n := a.rec.count(dropped); n != 0 {
		t.Fatalf("the room released while down got %d messages", n)
	}
	if a.RoomCount("kept") != 4 {
		t.Fatalf("local count lost: %d", a.RoomCount("kept"))
	}
}

// TestStartWithoutNats: New does not wait for NATS. Until it comes up
// the node says why it is not ready and refuses remote publishes;
// interest taken meanwhile works once it is there.
func TestStartWithoutNats(t *testing.T) {
	port := freeRoutePort(t)
	a := startNode(t, externalConfig(t, "a", fmt.Sprintf("nats://127.0.0.1:%d", port)))
	eventually(t, "the reason", func() bool {
		st := a.Status()
		return st.State == StateStarting && strings.Contains(st.Reason, "cannot reach NATS")
	})
	if err := a.Publish(allTarget, "a", []byte(`{}`), nil); err != ErrNotConnected {
		t.Fatalf("Publish before NATS: %v", err)
	}
	room := broadcast.ToRoom("early")
	if err := a.Interest(room); err != nil {
		t.Fatal(err)
	}
	startNatsProcess(t, port, t.TempDir())
	eventually(t, "ready", func() bool { return a.Status().State == StateReady })
	eventually(t, "the subscription", func() bool { return a.Stats().Subscriptions == 2 })
	if err := a.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	publishWait(t, a.Cluster, room, "a", `{}`)
	eventually(t, "the delivery", func() bool { return a.rec.count(room) == 1 })
}

// TestStreamSettings: the first node creates the stream, a node with the
// same settings leaves it alone (nats-server 2.9 can crash on an update
// racing a create), and a node with other history settings updates it
// and says so in its log.
func TestStreamSettings(t *testing.T) {
	p := startNatsProcess(t, 0, t.TempDir())
	var logs [3]logLines
	start := func(i, history int) *node {
		cfg := externalConfig(t, fmt.Sprintf("n%d", i), p.url())
		cfg.History = history
		cfg.Logf = logs[i].add
		n := startNode(t, cfg)
		eventually(t, cfg.NodeName+" ready", func() bool { return n.Status().State == StateReady })
		return n
	}
	a := start(0, 100)
	start(1, 100)
	if logs[1].has("updated the stream") {
		t.Fatalf("a node with the same settings updated the stream: %q", logs[1].all())
	}
	if got := streamHistory(t, a); got != 100 {
		t.Fatalf("history per target %d, want 100", got)
	}
	start(2, 20)
	if !logs[2].has("updated the stream") {
		t.Fatalf("no log line for the update: %q", logs[2].all())
	}
	if got := streamHistory(t, a); got != 20 {
		t.Fatalf("history per target %d after the update, want 20", got)
	}
}

// logLines keeps a node's log.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *logLines) has(s string) bool {
	return slices.ContainsFunc(l.all(), func(line string) bool { return strings.Contains(line, s) })
}

// streamHistory reads the stream's messages per target from the server.
func streamHistory(t *testing.T, n *node) int64 {
	t.Helper()
	js, err := jetstream.New(n.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := js.Stream(ctx, n.cfg.Stream)
	if err != nil {
		t.Fatalf("cannot read the stream: %v", err)
	}
	return s.CachedInfo().Config.MaxMsgsPerSubject
}
