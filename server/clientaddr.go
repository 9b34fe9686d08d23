package server

import (
	"net/netip"
	"sync/atomic"

	"c1m/poller"
)

// clientAddrs is what the engine keeps to name a connection's client
// when the socket's peer is not the client (Config.ProxyProtocol: it is
// the load balancer).
//
// Memory: without ProxyProtocol nothing is kept per connection; the
// address is the socket's peer, asked of the kernel (getpeername(2)) when
// someone wants it. With ProxyProtocol the header's address is kept in a
// table beside the slot table, indexed by fd like it, 20 bytes per entry:
// the 56-byte slot does not grow for the servers that do not need it. Like
// the slot table, the entries of fds never used cost no resident memory
// (the kernel maps zero pages lazily).
type clientAddrs struct {
	// table is nil unless ProxyProtocol. Entry fd is written by the
	// owning loop when the header is read (the connection is then still
	// handshaking, so no Conn names it yet) and read by the loop, or by
	// any goroutine holding the slot's mu with a current generation.
	table []peerAddr
	// rate is the AcceptRatePerIP table when ProxyProtocol moves the
	// check from the accept to the header (Server.ipRate is nil then).
	rate *ipRate

	lastBadHeader atomic.Int64 // logEvery stamps
	lastRateLog   atomic.Int64
}

// peerAddr is one client address in 20 bytes (a netip.AddrPort takes 32).
type peerAddr struct {
	ip   [16]byte
	port uint16
	n    uint8 // 4 or 16; 0: the socket's own peer (LOCAL, UNSPEC, AF_UNIX)
}

func peerAddrOf(a netip.AddrPort) peerAddr {
	var p peerAddr
	switch {
	case !a.IsValid():
	case a.Addr().Is4():
		v := a.Addr().As4()
		copy(p.ip[:], v[:])
		p.n, p.port = 4, a.Port()
	default:
		p.ip, p.n, p.port = a.Addr().As16(), 16, a.Port()
	}
	return p
}

func (p peerAddr) addrPort() netip.AddrPort {
	switch p.n {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.ip[:4])), p.port)
	case 16:
		return netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)
	}
	return netip.AddrPort{}
}

// rateKey is a in the form the per-address rate table takes.
func rateKey(a netip.AddrPort) poller.PeerAddr {
	p := peerAddrOf(a)
	return poller.PeerAddr{IP: p.ip, N: p.n}
}

// proxyReserve is the room a PROXY protocol header may take in a
// handshake buffer, on top of the HTTP head's MaxHeaderBytes.
func proxyReserve(c Config) int {
	if c.ProxyProtocol {
		return proxyMaxLen
	}
	return 0
}
