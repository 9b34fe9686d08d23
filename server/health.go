package server

import (
	"errors"
	"strings"
	"sync"
)

// ErrDegraded marks a health check's error that leaves the node ready
// (serving its own clients) while something it depends on is missing, for
// example the cluster's broker: /readyz then answers 200 "degraded: ...".
var ErrDegraded = errors.New("server: degraded")

// healthChecks are the application's parts of /readyz.
type healthChecks struct {
	mu     sync.Mutex
	checks []healthCheck
}

type healthCheck struct {
	name string
	f    func() error
}

// AddHealthCheck adds an application's check to /readyz and c1m_ready: f
// returns nil when all is well, an error wrapping ErrDegraded when the
// node still serves but lacks something (200 "degraded: name: reason"),
// any other error when the load balancer should take the node out (503
// "not ready: name: reason"). f runs on every /readyz and scrape: it must
// be quick and safe for concurrent use.
func (s *Server) AddHealthCheck(name string, f func() error) {
	s.health.mu.Lock()
	s.health.checks = append(s.health.checks, healthCheck{name: name, f: f})
	s.health.mu.Unlock()
}

// Ready reports whether the node should get new clients, and why not or
// what is degraded: not while it drains or is at MaxConns, or while an
// application check fails.
func (s *Server) Ready() (ready bool, why string) {
	st := s.Stats()
	switch {
	case st.Draining:
		return false, "draining: this node is shutting down"
	case st.Sockets >= int64(st.MaxConns):
		return false, "at capacity"
	}
	s.health.mu.Lock()
	checks := s.health.checks
	s.health.mu.Unlock()
	var degraded []string
	for _, c := range checks {
		err := c.f()
		switch {
		case err == nil:
		case errors.Is(err, ErrDegraded):
			degraded = append(degraded, c.name+": "+strings.TrimPrefix(err.Error(), ErrDegraded.Error()+": "))
		default:
			return false, "not ready: " + c.name + ": " + err.Error()
		}
	}
	if len(degraded) > 0 {
		return true, "degraded: " + strings.Join(degraded, "; ")
	}
	return true, "ok"
}
