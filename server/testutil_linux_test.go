//go:build linux

package server

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

// startServer starts a Server on ephemeral ports with cfg's zero fields
// defaulted, and stops it when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if cfg.DrainDelay == 0 {
		cfg.DrainDelay = -1 // tests shut down at once
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if !s.draining.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Shutdown(ctx)
			cancel()
		}
	})
	return s
}

func wsURL(s *Server) string { return "ws://127.0.0.1:" + strconv.Itoa(s.Port()) + s.cfg.Path }
