//go:build linux

package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestReadyzHealthChecks: an application's check can leave the node ready
// but degraded (200, saying why) or take it out (503, saying why), and
// c1m_ready follows /readyz.
func TestReadyzHealthChecks(t *testing.T) {
	s := startServer(t, Config{MaxConns: 100})
	var state atomic.Int32 // 0 fine, 1 degraded, 2 down
	s.AddHealthCheck("broker", func() error {
		switch state.Load() {
		case 1:
			return fmt.Errorf("%w: nats unreachable", ErrDegraded)
		case 2:
			return errors.New("nats refused us")
		}
		return nil
	})
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.MetricsAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	gauge := func(name string) float64 {
		t.Helper()
		var b strings.Builder
		s.WriteMetrics(&b)
		for _, line := range strings.Split(b.String(), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				var f float64
				_, _ = fmt.Sscan(v, &f)
				return f
			}
		}
		t.Fatalf("no %s in /metrics", name)
		return 0
	}
	f := func(st int32, wantCode int, wantBody string, wantReady float64) {
		t.Helper()
		state.Store(st)
		code, body := get()
		if code != wantCode || body != wantBody || gauge("c1m_ready") != wantReady {
			t.Fatalf("state %d: /readyz %d %q, c1m_ready %v; want %d %q, %v", st, code, body, gauge("c1m_ready"), wantCode, wantBody, wantReady)
		}
	}
	f(0, 200, "ok", 1)
	f(1, 200, "degraded: broker: nats unreachable", 1)
	f(2, 503, "not ready: broker: nats refused us", 0)
	f(0, 200, "ok", 1)
	if got := gauge("c1m_max_connections"); got != 100 {
		t.Fatalf("c1m_max_connections %v, want 100", got)
	}
	if got := gauge("process_max_fds"); got < 100 {
		t.Fatalf("process_max_fds %v", got)
	}
	if got := gauge("c1m_draining"); got != 0 {
		t.Fatalf("c1m_draining %v before a drain, want 0", got)
	}
}
