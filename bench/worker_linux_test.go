//go:build linux

package bench

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"c1m/server"
)

// TestWorkerHoldsAndAnswersPings runs a worker against an in-process server
// with a fast heartbeat: every connection opens, the worker answers the
// server's pings (so none is closed as idle), and stopping the worker
// closes them all on the server side.
func TestWorkerHoldsAndAnswersPings(t *testing.T) {
	s, err := server.New(server.Config{
		Addr: "127.0.0.1:0", MetricsAddr: "-", PingInterval: 250 * time.Millisecond,
		Handler: server.Discard{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	const n = 500
	w, err := NewWorker(WorkerConfig{
		Targets: []Target{{Addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.Port())), Path: "/ws"}},
		Conns:   n,
		// Ports from a range unlikely to be in use by other tests.
		PortBase: 40000, PortMax: 40999,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !w.Snapshot().Done && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := w.Snapshot(); p.Open != n || p.Failed != 0 {
		t.Fatalf("worker progress %+v, want %d open and none failed", p, n)
	}
	// Wait until every connection has been pinged about four times on
	// average: more than the two intervals after which the server closes
	// a connection that does not answer (idle). A count, not a sleep, so
	// that a loaded box only makes the test slower.
	deadline = time.Now().Add(30 * time.Second)
	for w.Snapshot().Pings < 4*n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	p := w.Snapshot()
	if p.Open != n || p.Closed != 0 || p.Pings < 4*n {
		t.Fatalf("after heartbeats: %+v, want %d open, 0 closed, ≥ %d pings answered", p, n, 4*n)
	}
	if got := s.Stats().Open; got != n {
		t.Fatalf("server holds %d, want %d", got, n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for s.Stats().Sockets != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if st := s.Stats(); st.Sockets != 0 {
		t.Fatalf("server still has %d sockets after the worker closed", st.Sockets)
	}
}
