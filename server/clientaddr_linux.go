//go:build linux

package server

import (
	"encoding/binary"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// initClientAddrs sets up what ProxyProtocol needs: the address table,
// and the per-address rate moved from the accept (where the socket's peer
// is the balancer) to the header.
func (s *Server) initClientAddrs(fileLimit int) {
	if !s.cfg.ProxyProtocol {
		return
	}
	s.addrs.table = make([]peerAddr, fileLimit)
	s.addrs.rate, s.ipRate = s.ipRate, nil
}

// proxyHeader reads the PROXY protocol header that starts a connection
// (Config.ProxyProtocol), from data: what readHandshake has gathered so
// far, in the loop buffer or in the connection's hsBuf. It returns the
// bytes after the header and true when the HTTP head may be looked for in
// them; false when the connection waits for more bytes or was refused. A
// header cut across reads waits in the hsBuf (sized for it: proxyReserve),
// and the bytes after it are moved to the buffer's start, so that the
// HTTP head's own limit (MaxHeaderBytes) counts the head alone. Runs on
// the owning loop; allocates nothing (the hsBuf is pooled).
func (l *loop) proxyHeader(fd int32, sl *slot, data []byte) ([]byte, bool) {
	s := l.s
	n, src, err := parseProxyHeader(data)
	if err == errProxyShort {
		if sl.hs == nil {
			sl.hs = s.hsPool.get()
			sl.hs.b = append(sl.hs.b, data...)
		}
		return nil, false
	}
	if err != nil {
		// A balancer that speaks the protocol never sends this: the
		// listener is reachable by something else, or misconfigured.
		// No HTTP answer: the peer is not known to be an HTTP client.
		s.m.hsFailures[hsProxy].Inc()
		s.logEvery(&s.addrs.lastBadHeader, "refusing a connection without a valid PROXY protocol header (is every client coming through the load balancer?)",
			"peer", peerName(int(fd), &l.rawAddr), "err", err)
		l.finalClose(fd, sl)
		return nil, false
	}
	sl.lflags |= lflagProxied
	s.addrs.table[fd] = peerAddrOf(src)
	if s.addrs.rate != nil && sl.lflags&lflagReject == 0 {
		if !src.IsValid() {
			src = peerName(int(fd), &l.rawAddr) // LOCAL: the balancer itself
		}
		if !s.addrs.rate.allow(rateKey(src), int64(time.Since(l.start))) {
			sl.lflags |= lflagRateIP
		}
	}
	rest := data[n:]
	if sl.hs != nil {
		sl.hs.b = sl.hs.b[:copy(sl.hs.b, rest)]
		return sl.hs.b, true
	}
	// A header alone (a balancer writes it as soon as it connects): the
	// head comes in a later read, into the loop buffer, with no hsBuf
	// taken meanwhile.
	return rest, len(rest) > 0
}

// clientAddr is the address of fd's client, for the owning loop (no lock:
// the loop writes the table itself).
func (l *loop) clientAddr(fd int32) netip.AddrPort {
	if t := l.s.addrs.table; t != nil {
		if a := t[fd].addrPort(); a.IsValid() {
			return a
		}
	}
	return peerName(int(fd), &l.rawAddr)
}

// RemoteAddr returns the client's address: with Config.ProxyProtocol
// the one the load balancer's header named (the socket's peer for a
// LOCAL header), otherwise the socket's peer. It is the zero AddrPort
// once the connection is closed (or for a stale handle). Safe for
// concurrent use: it takes the slot's lock, and without ProxyProtocol
// asks the kernel (getpeername(2)), since nothing is stored per
// connection for it then.
func (c Conn) RemoteAddr() netip.AddrPort {
	s := c.s
	if c.fd < 0 || int(c.fd) >= len(s.table) {
		return netip.AddrPort{}
	}
	sl := &s.table[c.fd]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	// Open or closing: the handshake, which writes the table entry, is
	// over, and finalClose (which frees the fd) waits for mu.
	if sl.gen != c.gen || (sl.state != stOpen && sl.state != stClosing) {
		return netip.AddrPort{}
	}
	if t := s.addrs.table; t != nil {
		if a := t[c.fd].addrPort(); a.IsValid() {
			return a
		}
	}
	var raw unix.RawSockaddrAny
	return peerName(int(c.fd), &raw)
}

// peerName is getpeername(2) into the caller's raw sockaddr (unix.
// Getpeername allocates its result). The zero AddrPort when it fails.
func peerName(fd int, raw *unix.RawSockaddrAny) netip.AddrPort {
	alen := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(raw)), uintptr(unsafe.Pointer(&alen)))
	if e != 0 {
		return netip.AddrPort{}
	}
	switch raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}
