package server

import (
	"os"
	"strconv"
	"strings"
)

// registerStateMetrics adds the gauges an operator's alerts and dashboard
// read: readiness, the drain, the configured ceilings, and the memory an
// open connection costs.
func (s *Server) registerStateMetrics(fileLimit int) {
	set := s.m.set
	set.NewGauge("c1m_ready", func() float64 {
		if ok, _ := s.Ready(); ok {
			return 1
		}
		return 0
	})
	set.NewGauge("c1m_draining", func() float64 {
		if s.deregistered.Load() {
			return 1
		}
		return 0
	})
	set.NewGauge("c1m_max_connections", func() float64 { return float64(s.maxConns) })
	// process_max_fds is what WriteFDMetrics would write too; its sibling
	// process_open_fds is left out: it lists /proc/self/fd, a million
	// entries on a full server, on every scrape.
	set.NewGauge("process_max_fds", func() float64 { return float64(fileLimit) })
	set.NewGauge("c1m_memory_per_connection_bytes", func() float64 {
		open := s.open.Load()
		rss, err := residentBytes()
		if open == 0 || err != nil || rss < s.rssBase {
			return 0
		}
		return float64(rss-s.rssBase) / float64(open)
	})
}

// residentBytes reads this process's resident memory from
// /proc/self/statm (its second field, in pages).
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, os.ErrInvalid
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * int64(os.Getpagesize()), nil
}
