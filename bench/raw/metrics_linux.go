//go:build linux

package raw

import (
	"io"

	"github.com/VictoriaMetrics/metrics"
)

// serverMetrics are a Server's metrics, in its own Set (several servers
// may live in one test process), under c1m's names where c1m has the same
// measure, so that the orchestrator reads both alike. Safe for concurrent
// use.
type serverMetrics struct {
	set              *metrics.Set
	open, live       func() float64
	opened           *metrics.Counter
	published        *metrics.Counter
	deliveries       *metrics.Counter
	writesQueued     *metrics.Counter
	broadcastSeconds *metrics.Histogram
	closedBy         map[string]*metrics.Counter
	hsFailures       map[string]*metrics.Counter
}

func newServerMetrics() *serverMetrics {
	set := metrics.NewSet()
	m := &serverMetrics{
		set:              set,
		opened:           set.NewCounter("c1m_connections_opened_total"),
		published:        set.NewCounter("c1m_published_total"),
		deliveries:       set.NewCounter("c1m_deliveries_total"),
		writesQueued:     set.NewCounter("c1m_writes_queued_total"),
		broadcastSeconds: set.NewHistogram("c1m_broadcast_duration_seconds"),
		closedBy:         map[string]*metrics.Counter{},
		hsFailures:       map[string]*metrics.Counter{},
	}
	for _, r := range []string{reasonPeerClose, reasonPeerGone, reasonProtocol, reasonSlow, reasonWriteFailed, reasonShutdown} {
		m.closedBy[r] = set.NewCounter(`c1m_connections_closed_total{reason="` + r + `"}`)
	}
	for _, r := range []string{hsTimeout, hsTooLarge, hsBadRequest, reasonPeerGone, reasonShutdown} {
		m.hsFailures[r] = set.NewCounter(`c1m_handshake_failures_total{reason="` + r + `"}`)
	}
	return m
}

// register adds the gauges, once open and live are set.
func (m *serverMetrics) register() {
	m.set.NewGauge("c1m_connections", m.open)
	m.set.NewGauge("c1m_sockets", m.live)
}

func (m *serverMetrics) closed(why string) {
	if c := m.closedBy[why]; c != nil {
		c.Inc()
	}
}

func (m *serverMetrics) handshakeFailure(why string) {
	if c := m.hsFailures[why]; c != nil {
		c.Inc()
	}
}

// WriteMetrics writes the server's metrics and the process and Go runtime
// metrics in Prometheus text format (GET /metrics).
func (s *Server) WriteMetrics(w io.Writer) {
	s.m.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
