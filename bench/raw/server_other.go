//go:build !linux

package raw

import (
	"context"
	"io"
)

// Server is the raw floor server; on this platform New returns
// ErrUnsupported.
type Server struct{}

// New returns ErrUnsupported: the raw server needs epoll.
func New(cfg Config) (*Server, error) { return nil, ErrUnsupported }

// Start returns ErrUnsupported.
func (s *Server) Start() error { return ErrUnsupported }

// Shutdown does nothing.
func (s *Server) Shutdown(ctx context.Context) error { return nil }

// Addr returns "".
func (s *Server) Addr() string { return "" }

// APIAddr returns "".
func (s *Server) APIAddr() string { return "" }

// Conns returns 0.
func (s *Server) Conns() int { return 0 }

// Publish returns ErrUnsupported.
func (s *Server) Publish(data []byte) (uint64, error) { return 0, ErrUnsupported }

// WriteMetrics writes nothing.
func (s *Server) WriteMetrics(w io.Writer) {}
