package poller

// Events is a set of readiness events for one fd, independent of the epoll
// bit layout so that callers need not import x/sys/unix.
type Events uint32

const (
	// EventRead: data (or a pending connection, for a listener) is readable.
	EventRead Events = 1 << iota
	// EventWrite: the socket's send buffer has room again.
	EventWrite
	// EventHup: the peer shut down its writing side (EPOLLRDHUP) or the
	// connection hung up (EPOLLHUP). Data may still be readable.
	EventHup
	// EventErr: an error is pending on the socket (EPOLLERR).
	EventErr
)

// WakeFD is the fd value passed to the Wait callback when another goroutine
// called Wake. It is never a real descriptor.
const WakeFD = -1
