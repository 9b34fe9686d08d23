//go:build !linux

package server

import (
	"context"
	"errors"

	"c1m/wsproto"
)

// ErrUnsupported is what every entry point returns off Linux: the server
// is built on epoll. The package still compiles elsewhere so that tools
// and the platform-independent tests run anywhere.
var ErrUnsupported = errors.New("server: c1m serve runs on Linux only (epoll)")

type loop struct{ rbuf []byte }

// New returns ErrUnsupported.
func New(cfg Config) (*Server, error) { return nil, ErrUnsupported }

// Start returns ErrUnsupported.
func (s *Server) Start() error { return ErrUnsupported }

// Shutdown returns ErrUnsupported.
func (s *Server) Shutdown(ctx context.Context) error { return ErrUnsupported }

// Capacity returns zeros.
func (s *Server) Capacity() (fileLimit, maxConns int) { return 0, 0 }

func (s *Server) write(fd int32, gen uint32, a, b []byte, stable, control bool) error {
	return ErrClosed
}

func (s *Server) writeNoClose(fd int32, gen uint32, a, b []byte, stable, control bool) error {
	return ErrClosed
}

func (s *Server) requestClose(fd int32, gen uint32, code wsproto.StatusCode, reason, why string) {}
