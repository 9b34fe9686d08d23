//go:build linux

package server

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"c1m/internal/c1mtest"
)

// addrRecorder is a Handler that records every connection's RemoteAddr
// at OnOpen.
type addrRecorder struct {
	Echo
	mu    sync.Mutex
	addrs []netip.AddrPort
}

func (h *addrRecorder) OnOpen(c Conn, _ *Identity) {
	h.mu.Lock()
	h.addrs = append(h.addrs, c.RemoteAddr())
	h.mu.Unlock()
}

func (h *addrRecorder) last(t *testing.T, n int) netip.AddrPort {
	t.Helper()
	var got int
	c1mtest.Eventually(t, 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		got = len(h.addrs)
		return got >= n
	}, c1mtest.Say("the handler to see the connection open"))
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addrs[n-1]
}

// sendSplit writes the parts one by one, each only once the server has
// read the one before, so that the server sees them in separate reads.
func sendSplit(t *testing.T, s *Server, c *rawClient, parts ...[]byte) {
	t.Helper()
	for _, p := range parts {
		in := s.m.bytesIn.Get()
		c.send(p)
		c1mtest.Eventually(t, 5*time.Second, func() bool { return s.m.bytesIn.Get() >= in+uint64(len(p)) }, c1mtest.Say("the server to read a part"))
	}
}

// localAddr is the client socket's own address: what the server's
// getpeername sees.
func localAddr(t *testing.T, c *rawClient) netip.AddrPort {
	t.Helper()
	sa, err := unix.Getsockname(c.FD())
	if err != nil {
		t.Fatal(err)
	}
	s4 := sa.(*unix.SockaddrInet4)
	return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), uint16(s4.Port))
}

// TestProxyProtocolAddress: with ProxyProtocol the connection's address
// is the header's, for IPv4 and IPv6, v2 and v1, whether the header comes
// alone, with the HTTP head, or cut in pieces across reads; a LOCAL
// header (the balancer's own check) leaves the socket's address. Without
// ProxyProtocol RemoteAddr is the socket's peer.
func TestProxyProtocolAddress(t *testing.T) {
	h := &addrRecorder{}
	s := startServer(t, Config{ProxyProtocol: true, Handler: h})
	req := []byte(upgradeRequest)
	n := 0
	f := func(name string, want netip.AddrPort, parts ...[]byte) {
		t.Helper()
		c := dialRaw(t, s)
		sendSplit(t, s, c, parts...)
		if st, head, err := c.ReadHTTP(); err != nil || st != 101 {
			t.Fatalf("%s: status %d %q %v, want 101", name, st, head, err)
		}
		n++
		if want == (netip.AddrPort{}) {
			want = localAddr(t, c)
		}
		if got := h.last(t, n); got != want {
			t.Fatalf("%s: RemoteAddr %v, want %v", name, got, want)
		}
		c.Close()
	}
	v4 := proxyV2(1, 0x11, v2Addrs(cli4, srv4), []byte{0x04, 0x00, 0x02, 0, 0}) // with a NOOP TLV
	v6 := proxyV2(1, 0x21, v2Addrs(cli6, srv6), nil)
	f("v2 IPv4 with the head", cli4, append(bytes.Clone(v4), req...))
	f("v2 IPv4 alone, then the head", cli4, v4, req)
	f("v2 IPv4 in three reads, the last with the head", cli4, v4[:5], v4[5:20], append(bytes.Clone(v4[20:]), req...))
	f("v2 IPv4 cut in the head", cli4, append(bytes.Clone(v4), req[:10]...), req[10:])
	f("v2 IPv6", cli6, v6, req)
	f("v1 IPv4", cli4, []byte("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080\r\n"), req)
	f("v1 IPv6 cut", cli6, []byte("PROXY TCP6 2001:db8::7 2001:"), append([]byte("db8::11 51000 8080\r\n"), req...))
	f("v2 LOCAL", netip.AddrPort{}, append(proxyV2(0, 0x00, nil, nil), req...))
	if got := s.m.hsFailures[hsProxy].Get(); got != 0 {
		t.Fatalf("proxy_protocol failures %d, want 0", got)
	}

	plain := &addrRecorder{}
	s2 := startServer(t, Config{Handler: plain})
	c := dialUpgraded(t, s2)
	if got, want := plain.last(t, 1), localAddr(t, c); got != want {
		t.Fatalf("without ProxyProtocol: RemoteAddr %v, want the socket's peer %v", got, want)
	}
	// A stale handle names no one.
	if got := s2.Conn(int32(c.FD()), 12345).RemoteAddr(); got.IsValid() {
		t.Fatalf("stale handle: RemoteAddr %v, want none", got)
	}
}

// TestProxyProtocolRefusal: with ProxyProtocol a connection without a
// valid header is closed without an answer and counted; the header's
// bounds hold; the HTTP head after it keeps its own limit.
func TestProxyProtocolRefusal(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{ProxyProtocol: true, MaxHeaderBytes: 1024, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	req := []byte(upgradeRequest)
	refused := func(name string, in []byte) {
		t.Helper()
		before := s.m.hsFailures[hsProxy].Get()
		c := dialRaw(t, s)
		c.send(in)
		st, head, err := c.ReadHTTP()
		if err == nil || !errors.Is(err, io.EOF) && !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("%s: status %d %q %v, want the connection closed without an answer", name, st, head, err)
		}
		if got := s.m.hsFailures[hsProxy].Get(); got != before+1 {
			t.Fatalf("%s: proxy_protocol failures %d, want %d", name, got, before+1)
		}
	}
	refused("a plain upgrade request", req)
	refused("a bad v2 signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c"), req...))
	refused("a v2 length over the cap", append(proxyV2(1, 0x11, v2Addrs(cli4, srv4), make([]byte, 600)), req...))
	refused("a v2 UDP header", append(proxyV2(1, 0x12, v2Addrs(cli4, srv4), nil), req...))
	refused("a v1 line over 107 bytes", []byte("PROXY UNKNOWN "+strings.Repeat("x", 120)))
	if !strings.Contains(logs.String(), "without a valid PROXY protocol header") {
		t.Fatalf("no log line for the refusal:\n%s", logs.String())
	}
	// The head after a header is held to MaxHeaderBytes on its own.
	c := dialRaw(t, s)
	long := c1mtest.UpgradeRequest("localhost", DefaultPath, "X-Pad: "+strings.Repeat("p", 1100))
	c.send(proxyV2(1, 0x11, v2Addrs(cli4, srv4), nil))
	c.send([]byte(long))
	// (The error body behind the head is not frames: ReadHTTP's error
	// about it does not matter here.)
	if st, _, err := c.ReadHTTP(); st != 431 {
		t.Fatalf("a head over max-header-bytes behind a header: status %d %v, want 431", st, err)
	}
}

// TestProxyProtocolRatePerIP: with ProxyProtocol, AcceptRatePerIP counts
// the header's client, not the socket's peer (every test connection comes
// from 127.0.0.1, as through a balancer), and the 429 is logged with the
// client's address.
func TestProxyProtocolRatePerIP(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Config{ProxyProtocol: true, AcceptRatePerIP: 0.01, Logger: slog.New(slog.NewTextHandler(&logs, nil))}) // burst 8
	status := func(src netip.AddrPort) int {
		t.Helper()
		c := dialRaw(t, s)
		c.send(append(proxyV2(1, 0x11, v2Addrs(src, srv4), nil), upgradeRequest...))
		st, head, err := c.ReadHTTP()
		if st == 0 {
			t.Fatalf("from %v: %v %q", src, err, head)
		}
		c.Close()
		return st
	}
	a := netip.MustParseAddrPort("198.51.100.1:4000")
	var got []int
	for i := 0; i < 10; i++ {
		got = append(got, status(a))
	}
	if want := []int{101, 101, 101, 101, 101, 101, 101, 101, 429, 429}; !equalInts(got, want) {
		t.Fatalf("10 connections from %v: %v, want %v (burst 8)", a.Addr(), got, want)
	}
	if st := status(netip.MustParseAddrPort("198.51.100.2:4000")); st != 101 {
		t.Fatalf("another client behind the same balancer: %d, want 101", st)
	}
	if got := s.m.hsFailures[hsRateLimited].Get(); got != 2 {
		t.Fatalf("rate_limited failures %d, want 2", got)
	}
	if !strings.Contains(logs.String(), "client=198.51.100.1:4000") {
		t.Fatalf("the 429 log line does not name the client:\n%s", logs.String())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUpgradeAllocsProxyProtocol: with ProxyProtocol an upgrade still
// allocates nothing, with the header and the head in one read or the
// header alone first (as HAProxy sends it when it connects).
func TestUpgradeAllocsProxyProtocol(t *testing.T) {
	c1mtest.SkipAllocsUnderRace(t)
	s := startServer(t, Config{Loops: 1, ProxyProtocol: true})
	hdr := proxyV2(1, 0x11, v2Addrs(cli4, srv4), nil)
	together := append(bytes.Clone(hdr), upgradeRequest...)
	req := []byte(upgradeRequest)
	buf := make([]byte, 4096)
	sa := &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}
	for _, split := range []bool{false, true} {
		cycle := func() {
			fd := rawConnect(t, sa)
			if split {
				in := s.m.bytesIn.Get()
				writeAll(t, fd, hdr)
				for s.m.bytesIn.Get() < in+uint64(len(hdr)) {
					runtime.Gosched()
				}
				writeAll(t, fd, req)
			} else {
				writeAll(t, fd, together)
			}
			readHead(t, fd, buf)
			closeFD(fd)
		}
		cycle() // warm the pools
		c1mtest.Eventually(t, 5e9, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("warm-up socket freed"))
		allocs := testing.AllocsPerRun(50, cycle)
		c1mtest.Eventually(t, 5e9, func() bool { return s.Stats().Sockets == 0 }, c1mtest.Say("sockets freed"))
		if allocs != 0 {
			t.Fatalf("split=%v: %.1f allocations per upgrade with the PROXY protocol, want 0", split, allocs)
		}
	}
	if got := s.m.hsFailures[hsProxy].Get(); got != 0 {
		t.Fatalf("proxy_protocol failures %d", got)
	}
}
