package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/internal/debuggc"
)

// httpServer serves /metrics, /livez and /readyz on the metrics listener,
// and /debug/gc when Config.DebugGC is set.
// It uses net/http and the Go netpoller: it is for operators and
// Prometheus, a handful of connections, not for clients.
type httpServer struct {
	ln  net.Listener
	srv *http.Server
}

func (h *httpServer) addr() string { return h.ln.Addr().String() }

func (s *Server) startHTTP() error {
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("cannot listen on metrics address %s: %w", s.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.WriteMetrics(w)
	})
	if s.cfg.DebugGC {
		mux.HandleFunc("/debug/gc", debuggc.Handler(debuggc.PlainText)) // the gate and the report: internal/debuggc
	}
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, why := s.Ready()
		if !ready {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, why+"\n")
	})
	h := &httpServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	s.http = h
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// WriteMetrics writes the server's metrics and the process and Go runtime
// metrics in Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	s.m.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}

func (s *Server) stopHTTP(ctx context.Context) {
	if s.http != nil {
		_ = s.http.srv.Shutdown(ctx)
	}
}
