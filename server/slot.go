package server

import (
	"sync"

	"c1m/wsproto"
)

// Slot states.
const (
	stFree      uint8 = iota // no socket
	stHandshake              // accepted, HTTP head being read
	stOpen                   // upgraded, frames flowing
	stClosing                // close frame or HTTP error sent; waiting for the peer's FIN
)

// Slot flags, slot.flags (under slot.mu).
const (
	flagWantWrite   uint8 = 1 << iota // EPOLLOUT is armed
	flagShutWr                        // shutdown(SHUT_WR) once the queue drains
	flagCloseQueued                   // a close frame is queued: no more data frames
	flagCloseReq                      // a close request is in the owner's inbox
	flagReadPaused                    // EPOLLIN is off: the out queue is over its pause mark
)

// Loop-only flags, slot.lflags (touched by the owning loop alone).
const (
	lflagInWheel uint8 = 1 << iota // linked into the loop's timing wheel
	lflagReject                    // answer 503 at the end of the handshake head
	lflagRateIP                    // answer 429 at the end of the handshake head (AcceptRatePerIP)
	lflagProxied                   // the PROXY protocol header has been read (ProxyProtocol)
)

// slot is one connection's state, stored by value in the fd-indexed table.
// It is what an idle connection costs in user space: no goroutine, timer or
// buffer hangs off it while idle (hs, rd and out are nil then).
//
// Ownership: the slot belongs to the loop that accepted the socket
// (slot.loop). Fields marked "loop" are touched only by that loop's
// goroutine. Fields marked "mu" may be touched by any goroutine holding mu:
// writers (broadcast workers, the API) lock the slot, check gen, and write.
// gen grows by one every time the slot is freed, so that a writer holding a
// Conn for a closed connection never writes to a recycled fd.
type slot struct {
	mu    sync.Mutex
	gen   uint32 // mu (written with mu held; read by the loop freely)
	state uint8  // mu (written with mu held by the owning loop)
	loop  uint8  // owning loop index; set before the fd is registered
	flags uint8  // mu
	// lflags are the loop's own flags, kept apart from flags so that the
	// loop never writes a byte that writers read under mu.
	lflags uint8 // loop

	next, prev int32  // loop: timing wheel links, -1 terminated
	seen       uint32 // loop: wheel tick of the last bytes received
	tag        uint32 // loop: the Handler's value (Conn.SetTag), 0 when free

	hs  *hsBuf          // loop: partial handshake head, nil when none
	rd  *wsproto.Reader // loop: partial frame or message, nil when none
	out *outQueue       // mu: pending outbound bytes, nil when none
}

// hsBuf holds a handshake head that did not arrive in one read. It is
// pooled with a fixed capacity (Config.MaxHeaderBytes) and released as
// soon as the head completes or the connection closes.
type hsBuf struct {
	b []byte
}

// hsPool is a pool of hsBufs of one fixed capacity.
type hsPool struct {
	size int
	p    sync.Pool
}

func (p *hsPool) get() *hsBuf {
	if v, ok := p.p.Get().(*hsBuf); ok {
		return v
	}
	return &hsBuf{b: make([]byte, 0, p.size)}
}

func (p *hsPool) put(h *hsBuf) {
	h.b = h.b[:0]
	p.p.Put(h)
}
