package baseline

import (
	"io"
	"net/http"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"c1m/bench/internal/pubapi"
	"c1m/broadcast"
)

// apiHandler serves the endpoints the benchmark uses on a c1m server, on
// one listener: /v1/publish (behind the API key), /livez and /metrics
// (open, like c1m's metrics listener).
func (s *Server) apiHandler() http.Handler {
	return pubapi.Handler(pubapi.Config{
		Name:    "baseline",
		APIKey:  s.cfg.APIKey,
		Publish: s.publishAPI,
		Metrics: s.WriteMetrics,
	})
}

func (s *Server) publishAPI(data []byte) (uint64, error) {
	seq, ok := s.publish(data)
	if !ok {
		return 0, pubapi.ErrClosing
	}
	return seq, nil
}

// publish frames data once and queues the same frame to every upgraded
// connection without blocking; a connection whose queue is full is closed
// as a slow consumer. It reports false when the server is shutting down.
func (s *Server) publish(data []byte) (uint64, bool) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.RLock()
	if s.closing {
		s.mu.RUnlock()
		return 0, false
	}
	s.seq++
	// Framed once, in exactly the shape c1m sends, so that the workers
	// parse both servers the same way.
	f := broadcast.EncodeMessage(broadcast.ToAll(), "api", s.seq, time.Now().UnixMilli(), data)
	slow := s.slowBuf[:0]
	for c := range s.conns {
		if c.upgraded.Load() && !c.enqueue(&f) {
			slow = append(slow, c)
		}
	}
	s.mu.RUnlock()
	// Closing takes s.mu, so it waits until the fan-out has let go of it.
	for _, c := range slow {
		c.closeSlow()
	}
	clear(slow)
	s.slowBuf = slow[:0]
	s.published.Inc()
	return s.seq, true
}

// WriteMetrics writes c1m_connections, the baseline's counters and the
// process and Go runtime metrics in Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) {
	s.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
