//go:build linux

package raw

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"c1m/internal/c1mtest"
)

// dialRaw opens a WebSocket connection that never reads after the 101:
// its socket buffer absorbs the broadcasts of an allocation test.
func dialRaw(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head []byte
	b := make([]byte, 1)
	for !strings.HasSuffix(string(head), "\r\n\r\n") {
		if _, err := c.Read(b); err != nil {
			t.Fatalf("no 101: %v", err)
		}
		head = append(head, b[0])
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 101") {
		t.Fatalf("answer %q", head)
	}
	return c
}

// TestBroadcastAllocsDoNotGrowWithTargets: a publish allocates its frame
// and nothing per target, so 300 targets cost as many allocations as 1.
func TestBroadcastAllocsDoNotGrowWithTargets(t *testing.T) {
	c1mtest.SkipAllocsUnderRace(t)
	allocs := func(n int) float64 {
		s := startServer(t, Config{Loops: 1, Writers: 2})
		for i := 0; i < n; i++ {
			dialRaw(t, s)
		}
		waitFor(t, 5*time.Second, "the connections", func() bool { return s.Conns() == n })
		data := []byte(`{"hello":"world"}`)
		return testing.AllocsPerRun(20, func() {
			want := s.m.deliveries.Get() + uint64(n)
			if _, err := s.Publish(data); err != nil {
				t.Fatal(err)
			}
			for s.m.deliveries.Get() < want {
				runtime.Gosched()
			}
		})
	}
	one, many := allocs(1), allocs(300)
	if many > one || one > 3 {
		t.Fatalf("allocations per publish: %.1f to 1 target, %.1f to 300; want the same, at most 3", one, many)
	}
}
