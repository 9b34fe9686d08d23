//go:build linux

package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"c1m/bench"
	"c1m/internal/c1mtest"
)

// TestBenchCluster runs the benchmark in cluster mode at a small size,
// three servers × 200 connections: with an embedded NATS cluster (rooms
// published by the clients over WebSocket) and with an external
// nats-server (rooms published through the nodes' APIs). Every broadcast
// and every room message is published once, not once per server: the
// nodes' backplane counters say so, every node delivers each message once,
// every connection gets each message meant for it exactly once, and two
// thirds of the deliveries crossed nodes.
func TestBenchCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the benchmark twice on three clustered servers for a few seconds; run without -short")
	}
	t.Run("embedded", func(t *testing.T) {
		dir := runBenchCmd(t, 3*time.Minute, "--cluster", "embedded", "--servers", "3", "--workers", "1", "--conns", "600",
			"--scenario", "idle,broadcast,rooms", "--broadcasts", "3", "--interval", "200ms", "--hold", "1s",
			"--room-size", "6", "--publish-rate", "500", "--duration", "2s", "--publish-via", "ws", "--base-port", "27100")
		checkClusterReport(t, readReport(t, dir), "embedded NATS cluster", 600, 3, 6)
	})
	t.Run("external", func(t *testing.T) {
		bin, err := exec.LookPath("nats-server")
		if err != nil {
			t.Fatalf("nats-server is not installed (apt-get install nats-server; .ci/run does it): %v", err)
		}
		addr := c1mtest.FreeAddr(t)
		host, port, _ := strings.Cut(addr, ":")
		nats := exec.Command(bin, "-a", host, "-p", port, "-js", "-sd", t.TempDir())
		if err := nats.Start(); err != nil {
			t.Fatalf("cannot start nats-server: %v", err)
		}
		t.Cleanup(func() { _ = nats.Process.Kill(); _ = nats.Wait() })
		dir := runBenchCmd(t, 3*time.Minute, "--cluster", "nats://"+addr, "--servers", "3", "--workers", "1", "--conns", "600",
			"--scenario", "idle,broadcast,rooms", "--broadcasts", "3", "--interval", "200ms", "--hold", "1s",
			"--room-size", "6", "--publish-rate", "500", "--duration", "2s", "--publishers", "8", "--base-port", "27150")
		checkClusterReport(t, readReport(t, dir), "external NATS", 600, 3, 6)
	})
}

// checkClusterReport asserts a cluster-mode run of conns connections on
// nodes servers, rooms of roomSize: one publish per message, every node
// delivering each, every connection complete.
func checkClusterReport(t *testing.T, rep bench.Report, mode string, conns, nodes, roomSize int) {
	t.Helper()
	if !strings.Contains(rep.Cluster, mode) || rep.Held != conns || rep.Failed != 0 || len(rep.Nodes) != nodes {
		t.Fatalf("cluster %q, held %d, failed %d, %d nodes; want %s, all %d held, %d nodes", rep.Cluster, rep.Held, rep.Failed, len(rep.Nodes), mode, conns, nodes)
	}
	if len(rep.Phases) != 2 {
		t.Fatalf("phases %+v, want broadcast and rooms", rep.Phases)
	}
	for _, p := range rep.Phases {
		if p.Complete != conns || p.Extra != 0 || p.PublishErrors != 0 || p.ErrorMessages != 0 {
			t.Fatalf("%s: %d/%d complete, %d duplicated, %d publishes failed, %d error messages; want every connection to get each message once",
				p.Name, p.Complete, p.Receivers, p.Extra, p.PublishErrors, p.ErrorMessages)
		}
		fanout := int64(conns)
		if p.Name == "rooms" {
			fanout = int64(roomSize)
		}
		if p.Deliveries != int64(p.Messages)*fanout {
			t.Fatalf("%s: %d deliveries of %d messages, want %d each", p.Name, p.Deliveries, p.Messages, fanout)
		}
		// Published once each, not once per server; each node (all
		// have members of every room) delivered each once.
		b := p.Backplane
		if b == nil || b.Published != int64(p.Messages) || b.Delivered != int64(p.Messages*nodes) || b.Holes != 0 {
			t.Fatalf("%s: backplane %+v for %d messages; want each published once and delivered once by each of %d nodes", p.Name, b, p.Messages, nodes)
		}
		// The connections are spread evenly: a message published
		// through one node reaches the other nodes' two thirds.
		if c := p.CrossNode; c == nil || c.Count != p.Deliveries*int64(nodes-1)/int64(nodes) {
			t.Fatalf("%s: cross-node latency %+v over %d deliveries; want %d of them across nodes", p.Name, c, p.Deliveries, p.Deliveries*int64(nodes-1)/int64(nodes))
		}
	}
	if bc := rep.Phases[0]; bc.Name != "broadcast" || bc.Messages != 3 {
		t.Fatalf("first phase %s with %d messages, want the 3 broadcasts", bc.Name, bc.Messages)
	}
	if rooms := rep.Phases[1]; rooms.Name != "rooms" || rooms.Messages == 0 || rooms.Messages%(conns/roomSize) != 0 || rooms.PublishRate <= 0 {
		t.Fatalf("rooms phase: %d messages at %.0f/s, want the same number to each of %d rooms", rooms.Messages, rooms.PublishRate, conns/roomSize)
	}
	// Each node's counters: all of them delivered; together they
	// published the phases' messages (and the rooms' probes).
	var published int64
	for i, n := range rep.Nodes {
		published += n.Published
		if n.Delivered == 0 {
			t.Fatalf("node %d delivered nothing from the backplane: %+v", i, rep.Nodes)
		}
	}
	if want := int64(rep.Phases[0].Messages + rep.Phases[1].Messages); published < want {
		t.Fatalf("the nodes published %d messages into the backplane, fewer than the %d of the phases", published, want)
	}
	if rep.ClusterReadySeconds <= 0 {
		t.Fatalf("cluster ready after %.1f s: want the time it took", rep.ClusterReadySeconds)
	}
	t.Logf("%s: %s", mode, strconv.Quote(rep.Cluster))
}
