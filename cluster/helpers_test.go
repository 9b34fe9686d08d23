package cluster

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"c1m/broadcast"
)

// deadline is the last-resort guard of every wait: tests wait for
// states, and a state that never comes fails after this.
const deadline = 30 * time.Second

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder keeps every delivered message.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
}

func (r *recorder) deliver(m Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

// of returns the messages delivered for t, in delivery order.
func (r *recorder) of(t broadcast.Target) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Message
	for _, m := range r.msgs {
		if m.Target == t {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) count(t broadcast.Target) int { return len(r.of(t)) }

// node is one Cluster under test and what it received.
type node struct {
	*Cluster
	rec *recorder
}

// routePorts hands out route ports from this package's range
// (31000-31999): JetStream in a cluster needs every node's routes
// configured before it starts, so random ports (-1) cannot be used.
var routePorts struct {
	mu   sync.Mutex
	next int
}

func freeRoutePort(t testing.TB) int {
	t.Helper()
	routePorts.mu.Lock()
	defer routePorts.mu.Unlock()
	for range 1000 {
		p := 31000 + routePorts.next%1000
		routePorts.next++
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free port in 31000-31999")
	return 0
}

// testConfig is an embedded node with fast presence timers, logging to
// the test.
func testConfig(t testing.TB, name string) Config {
	return Config{
		Mode:             ModeEmbedded,
		NodeName:         name,
		RouteHost:        "127.0.0.1",
		PresenceInterval: 100 * time.Millisecond,
		PresenceTTL:      600 * time.Millisecond,
		PresenceDebounce: 20 * time.Millisecond,
		ReconnectMin:     20 * time.Millisecond,
		ReconnectMax:     200 * time.Millisecond,
		Logf:             func(f string, a ...any) { t.Logf(name+": "+f, a...) },
	}
}

func startNode(t testing.TB, cfg Config) *node {
	t.Helper()
	return startNodeDeliver(t, cfg, nil)
}

// startNodeDeliver starts a node whose deliveries go to deliver, or to
// its recorder when deliver is nil.
func startNodeDeliver(t testing.TB, cfg Config, deliver DeliverFunc) *node {
	t.Helper()
	rec := &recorder{}
	if deliver == nil {
		deliver = rec.deliver
	}
	c, err := New(cfg, deliver)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	n := &node{Cluster: c, rec: rec}
	t.Cleanup(c.Close)
	return n
}

// startCluster starts n embedded nodes, each with routes to all (as a
// deployment would configure them); mod adjusts each node's config. It
// waits until every node is ready (the stream exists and accepts
// messages).
func startCluster(t testing.TB, n int, mod func(i int, c *Config)) []*node {
	t.Helper()
	return startClusterDeliver(t, n, mod, nil)
}

// startClusterDeliver is startCluster with node i's deliveries going to
// deliver(i) when deliver is not nil.
func startClusterDeliver(t testing.TB, n int, mod func(i int, c *Config), deliver func(i int) DeliverFunc) []*node {
	t.Helper()
	var nodes []*node
	for i, cfg := range clusterConfigs(t, n, mod) {
		var d DeliverFunc
		if deliver != nil {
			d = deliver(i)
		}
		nodes = append(nodes, startNodeDeliver(t, cfg, d))
	}
	for _, nd := range nodes {
		eventually(t, nd.NodeName()+" ready", func() bool { return nd.Status().State == StateReady })
	}
	return nodes
}

// clusterConfigs returns the configurations of n embedded nodes named
// n0, n1, ..., each with routes to all (as a deployment would configure
// them; a single node has none); mod adjusts each.
func clusterConfigs(t testing.TB, n int, mod func(i int, c *Config)) []Config {
	t.Helper()
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ports[i] = freeRoutePort(t)
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i]))
	}
	var cfgs []Config
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("n%d", i))
		cfg.Replicas = 1
		if n > 1 {
			cfg.RoutePort = ports[i]
			cfg.Routes = routes
		}
		if mod != nil {
			mod(i, &cfg)
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs
}

// publishWait publishes and waits for the acknowledgement (test
// goroutine only: it stops the test on failure).
func publishWait(t testing.TB, c *Cluster, tg broadcast.Target, from, data string) uint64 {
	t.Helper()
	seq, err := publishAck(c, tg, from, data)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// publishAck publishes and waits for the acknowledgement; for any
// goroutine.
func publishAck(c *Cluster, tg broadcast.Target, from, data string) (uint64, error) {
	type res struct {
		seq uint64
		err error
	}
	ch := make(chan res, 1)
	for {
		err := c.Publish(tg, from, []byte(data), func(seq uint64, err error) { ch <- res{seq, err} })
		if err == ErrBusy {
			waitBriefly()
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("cannot publish: %w", err)
		}
		break
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return 0, fmt.Errorf("publish acknowledgement: %w", r.err)
		}
		return r.seq, nil
	case <-time.After(deadline):
		return 0, fmt.Errorf("no publish acknowledgement")
	}
}

// historyWait calls History and waits for its answer.
func historyWait(t testing.TB, c *Cluster, tg broadcast.Target, since uint64, limit int) (HistoryResult, error) {
	t.Helper()
	type res struct {
		r   HistoryResult
		err error
	}
	ch := make(chan res, 1)
	if err := c.History(tg, since, limit, func(r HistoryResult, err error) { ch <- res{r, err} }); err != nil {
		return HistoryResult{}, err
	}
	select {
	case r := <-ch:
		return r.r, r.err
	case <-time.After(deadline):
		t.Fatal("no history answer")
	}
	return HistoryResult{}, nil
}

func seqs(ms []Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func datas(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Data)
	}
	return out
}

var _ = slices.Equal[[]uint64]

// waitBriefly backs off a publisher that got ErrBusy.
func waitBriefly() { time.Sleep(100 * time.Microsecond) }
