package broadcast

// ConnID names one connection: its fd and the generation of the fd's slot,
// so that an ID outlives neither its connection nor a reuse of the fd.
type ConnID struct {
	FD  int32
	Gen uint32
}

// Sender delivers frames to connections. The server implements it.
//
// Send must not block: it writes frame at once or queues a reference to it
// (frame is immutable and shared by every target), returning nil; ErrSlow
// when the connection's pending bytes are over its cap (nothing queued,
// the connection left open: the Hub applies its policy); ErrGone when the
// connection no longer exists. CloseSlow closes a connection with 1013
// "slow consumer". Both are called concurrently from many goroutines.
type Sender interface {
	Send(c ConnID, frame []byte) error
	CloseSlow(c ConnID)
}
