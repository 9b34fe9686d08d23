package server

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// Close reasons, the values of c1m_connections_closed_total{reason}.
const (
	reasonPeerClose   = "peer_close"   // the client sent a close frame
	reasonPeerGone    = "peer_gone"    // EOF, reset or RDHUP without a close frame
	reasonProtocol    = "protocol"     // a wsproto.CloseError (1002, 1007, 1009)
	reasonHandler     = "handler"      // the handler returned an error or closed it
	reasonIdle        = "idle_timeout" // no traffic for two ping intervals
	reasonSlow        = "slow_consumer"
	reasonDrain       = "drain"
	reasonForced      = "drain_forced"
	reasonWriteFailed = "write_failed"
)

// Handshake failure reasons, the values of c1m_handshake_failures_total.
const (
	hsTimeout      = "timeout"
	hsTooLarge     = "header_too_large"
	hsBadRequest   = "bad_request"
	hsCapacity     = "at_capacity"
	hsClosed       = "peer_gone"
	hsDraining     = "draining"
	hsUnauthorized = "unauthorized"
	hsRateLimited  = "rate_limited"   // AcceptRatePerIP
	hsProxy        = "proxy_protocol" // ProxyProtocol: no valid header
)

// serverMetrics holds every metric of one Server in its own Set, so that
// several Servers in one process (tests) do not collide. All fields are safe
// for concurrent use.
type serverMetrics struct {
	set *metrics.Set

	opened       *metrics.Counter
	msgsIn       *metrics.Counter
	bytesIn      *metrics.Counter
	bytesOut     *metrics.Counter
	pingRTT      *metrics.PrometheusHistogram
	loopBusy     []*metrics.FloatCounter
	closed       map[string]*metrics.Counter
	hsFailures   map[string]*metrics.Counter
	authFailures map[string]*metrics.Counter
	writeQueued  *metrics.Counter
	readPauses   *metrics.Counter // reading paused: the out queue passed its pause mark
	discarded    *metrics.Counter // queued data frames dropped at close, never written
}

func newServerMetrics(loops int, open, live, queued func() float64) *serverMetrics {
	set := metrics.NewSet()
	m := &serverMetrics{
		set:         set,
		opened:      set.NewCounter("c1m_connections_opened_total"),
		msgsIn:      set.NewCounter("c1m_messages_received_total"),
		bytesIn:     set.NewCounter("c1m_bytes_received_total"),
		bytesOut:    set.NewCounter("c1m_bytes_sent_total"),
		writeQueued: set.NewCounter("c1m_writes_queued_total"),
		readPauses:  set.NewCounter("c1m_read_pauses_total"),
		discarded:   set.NewCounter("c1m_frames_discarded_total"),
		pingRTT: set.NewPrometheusHistogramExt("c1m_ping_rtt_seconds",
			[]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
		closed:       map[string]*metrics.Counter{},
		hsFailures:   map[string]*metrics.Counter{},
		authFailures: map[string]*metrics.Counter{},
	}
	set.NewGauge("c1m_connections", open)
	set.NewGauge("c1m_sockets", live)
	set.NewGauge("c1m_queued_bytes", queued)
	for i := 0; i < loops; i++ {
		m.loopBusy = append(m.loopBusy, set.NewFloatCounter(`c1m_loop_busy_seconds_total{loop="`+strconv.Itoa(i)+`"}`))
	}
	for _, r := range []string{reasonPeerClose, reasonPeerGone, reasonProtocol, reasonHandler, reasonIdle, reasonSlow, reasonDrain, reasonForced, reasonWriteFailed} {
		m.closed[r] = set.NewCounter(`c1m_connections_closed_total{reason="` + r + `"}`)
	}
	for _, r := range []string{hsTimeout, hsTooLarge, hsBadRequest, hsCapacity, hsClosed, hsDraining, hsUnauthorized, hsRateLimited, hsProxy} {
		m.hsFailures[r] = set.NewCounter(`c1m_handshake_failures_total{reason="` + r + `"}`)
	}
	for _, r := range authReasons {
		m.authFailures[r] = set.NewCounter(`c1m_auth_failures_total{reason="` + r + `"}`)
	}
	return m
}
