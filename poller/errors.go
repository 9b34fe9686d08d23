package poller

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	// ErrClosed is returned by Wait after Close.
	ErrClosed = errors.New("poller: closed")
	// ErrUnsupported is returned on platforms without epoll.
	ErrUnsupported = errors.New("poller: epoll is not supported on this platform")
)
