package app

import (
	"github.com/VictoriaMetrics/metrics"

	"c1m/broadcast"
)

// registerMetrics adds the messaging metrics to the engine's set: the
// hub's counters as gauges read at scrape time, and the protocol's own
// counters.
func registerMetrics(set *metrics.Set, hub *broadcast.Hub, p *protocol) {
	p.rateLimited = set.NewCounter("c1m_rate_limited_total")
	p.errorsSent = set.NewCounter("c1m_protocol_errors_total")
	p.reconnects = set.NewCounter("c1m_reconnects_total")
	set.NewGauge("c1m_user_entries", func() float64 { return float64(p.users.size()) })
	st := func(f func(broadcast.Stats) int64) func() float64 {
		return func() float64 { return float64(f(hub.Stats())) }
	}
	set.NewGauge("c1m_deliveries_total", st(func(x broadcast.Stats) int64 { return x.Deliveries }))
	set.NewGauge(`c1m_slow_consumers_total{policy="`+hub.Policy().String()+`"}`, st(func(x broadcast.Stats) int64 {
		if hub.Policy() == broadcast.PolicyDrop {
			return x.Dropped
		}
		return x.SlowClosed
	}))
	set.NewGauge("c1m_dropped_messages_total", st(func(x broadcast.Stats) int64 { return x.Dropped }))
	set.NewGauge("c1m_published_total", st(func(x broadcast.Stats) int64 { return x.Published }))
	set.NewGauge("c1m_fanout_inline_chunks_total", st(func(x broadcast.Stats) int64 { return x.InlineChunks }))
	set.NewGauge("c1m_room_full_total", st(func(x broadcast.Stats) int64 { return x.RoomFull }))
	set.NewGauge("c1m_rooms", st(func(x broadcast.Stats) int64 { return int64(x.Rooms) }))
	set.NewGauge("c1m_users", st(func(x broadcast.Stats) int64 { return int64(x.Users) }))
}
