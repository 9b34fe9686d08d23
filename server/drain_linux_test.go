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
	s := startServer(t, Config{DrainRate: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
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
