//go:build linux

package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"c1m/internal/c1mtest"
	"c1m/wsproto"
)

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDrainStopsAcceptingQuietly: once draining, the listeners refuse new
// connections at once, and the loops stop polling them instead of
// spinning on the accept4 errors a shut listener returns.
func TestDrainStopsAcceptingQuietly(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{DrainRate: 1, MaxConns: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c := dialUpgraded(t, s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Shutdown(context.Background())
	}()
	c1mtest.Eventually(t, 5*time.Second, func() bool { return s.Stats().Draining }, c1mtest.Say("draining"))
	// New connections are refused (or reset), never upgraded.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port()), time.Second)
	if err == nil {
		_, _ = conn.Write([]byte(upgradeRequest))
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		if bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
			t.Fatal("a connection made while draining was upgraded")
		}
		conn.Close()
	}
	c.expectClose(wsproto.CloseGoingAway)
	c.Close()
	<-done
	if strings.Contains(logs.String(), "cannot accept") {
		t.Fatalf("the loops complained about the shut listeners:\n%s", logs.String())
	}
}

// TestDrainRate: the derived rate spreads the open connections over three
// quarters of the time left, never below minDrainRate; an explicit rate
// wins.
func TestDrainRate(t *testing.T) {
	f := func(configured int, open int64, left time.Duration, want int64) {
		t.Helper()
		if got := drainRate(configured, open, left); got != want {
			t.Fatalf("drainRate(%d, %d, %v) = %d, want %d", configured, open, left, got, want)
		}
	}
	f(0, 1_000_000, 30*time.Second, 44_445) // a million in 22.5 s
	f(0, 10_000, 30*time.Second, 445)       // ten thousand in 22.5 s
	f(0, 10, 30*time.Second, minDrainRate)  // a handful: at least 100/s
	f(0, 1_000_000, 0, 1_000_000)           // no time left: all at once
	f(5_000, 1_000_000, 30*time.Second, 5_000)
}

// TestDrainRateRefused: an explicit rate that cannot close MaxConns within
// the drain timeout is refused by New, naming what would work.
func TestDrainRateRefused(t *testing.T) {
	_, err := New(Config{MaxConns: 1_000_000, DrainRate: 10_000, DrainTimeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "at least 33334") || !strings.Contains(err.Error(), "at least 1m40s") {
		t.Fatalf("New with 10,000/s × 30 s for a million: %v, want a refusal naming 33334/s and 1m40s", err)
	}
	if _, err := New(Config{MaxConns: 1_000_000, DrainRate: 40_000, DrainTimeout: 30 * time.Second, MetricsAddr: "-"}); err != nil {
		t.Fatalf("New with 40,000/s × 30 s for a million: %v", err)
	}
}
