package raw

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"c1m/internal/netaddr"
)

// Defaults.
const (
	DefaultPath = "/ws"
	// DefaultChunkSize is how many fds one writer takes at a time, as
	// c1m's fan-out chunks (broadcast.DefaultChunkSize).
	DefaultChunkSize = 1024
	// DefaultMaxPending caps the bytes queued for one connection whose
	// socket is full; past it the connection is a slow consumer.
	DefaultMaxPending = 64 << 10
	// DefaultMaxHeaderBytes caps the upgrade request head, as c1m's.
	DefaultMaxHeaderBytes = 8 << 10
	// DefaultHandshakeTimeout is c1m's default handshake deadline.
	DefaultHandshakeTimeout = 10 * time.Second
	// MaxMessage caps a client message (they are read and discarded).
	MaxMessage = 64 << 10
	// publishQueue is how many publishes may wait for the fan-out; a
	// publish beyond it gets 503.
	publishQueue = 64
)

// Syscalls a broadcast may write with.
const (
	SyscallSend  = "send"  // send(2) with MSG_DONTWAIT|MSG_NOSIGNAL
	SyscallWrite = "write" // write(2), what c1m uses today
)

// Config configures a Server. Zero fields take the defaults named.
type Config struct {
	Addr    string // WebSocket listen address; port 0 picks one
	APIAddr string // HTTP API, /livez and /metrics listen address; port 0 picks one
	Path    string // upgrade path, DefaultPath; other paths get 404
	// Loops is the number of epoll loops sharing the listener
	// (EPOLLEXCLUSIVE), GOMAXPROCS as for c1m serve.
	Loops int
	// Writers is how many goroutines write a broadcast, 2 × GOMAXPROCS as
	// c1m's fan-out pool.
	Writers int
	// ChunkSize is how many fds a writer takes at a time, DefaultChunkSize.
	ChunkSize int
	// MaxPending caps a connection's queued bytes, DefaultMaxPending.
	MaxPending int
	// SendBuffer, if positive, sets SO_SNDBUF on accepted sockets (the
	// benchmark gives c1m the same).
	SendBuffer int
	// Syscall is SyscallSend (the default) or SyscallWrite.
	Syscall string
	// HandshakeTimeout bounds the wait for the upgrade request,
	// DefaultHandshakeTimeout; sockets are checked about once a second.
	HandshakeTimeout time.Duration
	// APIKey is the bearer token /v1/publish requires. It may be empty
	// only when APIAddr is a loopback address (as for c1m serve).
	APIKey string
	Logger *slog.Logger // slog.DiscardHandler if nil
}

// Errors.
var (
	ErrAPIKeyRequired = errors.New("raw: the publish API needs an API key on a non-loopback address")
	ErrStarted        = errors.New("raw: server already started")
	ErrUnsupported    = errors.New("raw: the raw server runs on Linux only")
)

func (c Config) withDefaults() (Config, error) {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Loops == 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.Writers == 0 {
		c.Writers = 2 * runtime.GOMAXPROCS(0)
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Syscall == "" {
		c.Syscall = SyscallSend
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Addr == "":
		return c, errors.New("raw: cannot create the server: the WebSocket address is empty")
	case c.APIAddr == "":
		return c, errors.New("raw: cannot create the server: the API address is empty")
	case c.Path[0] != '/':
		return c, fmt.Errorf("raw: cannot create the server: path %q does not start with /", c.Path)
	case c.Loops < 1 || c.Loops > 255:
		return c, fmt.Errorf("raw: cannot create the server: want 1 to 255 loops, got %d", c.Loops)
	case c.Writers < 1 || c.Writers > 1024:
		return c, fmt.Errorf("raw: cannot create the server: want 1 to 1024 writers, got %d", c.Writers)
	case c.ChunkSize < 1:
		return c, fmt.Errorf("raw: cannot create the server: chunk size must be positive, got %d", c.ChunkSize)
	case c.MaxPending < 1:
		return c, fmt.Errorf("raw: cannot create the server: max pending must be positive, got %d", c.MaxPending)
	case c.Syscall != SyscallSend && c.Syscall != SyscallWrite:
		return c, fmt.Errorf("raw: cannot create the server: syscall %q: want send or write", c.Syscall)
	case c.HandshakeTimeout < 0:
		return c, fmt.Errorf("raw: cannot create the server: negative handshake timeout %v", c.HandshakeTimeout)
	case c.APIKey == "" && !netaddr.IsLoopback(c.APIAddr):
		return c, ErrAPIKeyRequired
	}
	return c, nil
}
