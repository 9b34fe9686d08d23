package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// proxyV2 builds a v2 header: command (0 LOCAL, 1 PROXY), family and
// transport byte, the address block and tlv bytes after it.
func proxyV2(cmd, famProto byte, addrs, tlv []byte) []byte {
	b := append([]byte(nil), proxyV2Sig...)
	b = append(b, 0x20|cmd, famProto)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlv)))
	b = append(b, addrs...)
	return append(b, tlv...)
}

// v2Addrs is the address block for src and dst (both IPv4 or both IPv6).
func v2Addrs(src, dst netip.AddrPort) []byte {
	var b []byte
	if src.Addr().Is4() {
		a, d := src.Addr().As4(), dst.Addr().As4()
		b = append(append(b, a[:]...), d[:]...)
	} else {
		a, d := src.Addr().As16(), dst.Addr().As16()
		b = append(append(b, a[:]...), d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

var (
	cli4 = netip.MustParseAddrPort("203.0.113.7:51000")
	srv4 = netip.MustParseAddrPort("10.0.0.11:8080")
	cli6 = netip.MustParseAddrPort("[2001:db8::7]:51000")
	srv6 = netip.MustParseAddrPort("[2001:db8::11]:8080")
)

// TestParseProxyHeader: every family of both versions, LOCAL, TLVs
// skipped, the header's length reported, and each bad input its error.
func TestParseProxyHeader(t *testing.T) {
	f := func(name string, in []byte, wantN int, wantSrc netip.AddrPort, wantErr error) {
		t.Helper()
		// The HTTP head that follows must not change anything.
		in = append(in, "GET /ws HTTP/1.1\r\n"...)
		n, src, err := parseProxyHeader(in)
		if !errors.Is(err, wantErr) || (err == nil && (n != wantN || src != wantSrc)) {
			t.Fatalf("%s: got n=%d src=%v err=%v, want n=%d src=%v err=%v", name, n, src, err, wantN, wantSrc, wantErr)
		}
	}
	v4 := proxyV2(1, 0x11, v2Addrs(cli4, srv4), nil)
	f("v2 TCP4", v4, 28, cli4, nil)
	v6 := proxyV2(1, 0x21, v2Addrs(cli6, srv6), nil)
	f("v2 TCP6", v6, 52, cli6, nil)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(cli4.Addr().As16()), cli4.Port())
	f("v2 TCP6 carrying a mapped IPv4 address", proxyV2(1, 0x21, v2Addrs(mapped, srv6), nil), 52, cli4, nil)
	tlv := []byte{0x05, 0x00, 0x04, 'a', 'b', 'c', 'd', 0x04, 0x00, 0x00} // UNIQUE_ID, NOOP
	f("v2 TCP4 with TLVs", proxyV2(1, 0x11, v2Addrs(cli4, srv4), tlv), 28+len(tlv), cli4, nil)
	f("v2 LOCAL", proxyV2(0, 0x00, nil, nil), 16, netip.AddrPort{}, nil)
	f("v2 LOCAL with addresses", proxyV2(0, 0x11, v2Addrs(cli4, srv4), nil), 28, netip.AddrPort{}, nil)
	f("v2 PROXY UNSPEC", proxyV2(1, 0x00, nil, nil), 16, netip.AddrPort{}, nil)
	f("v2 AF_UNIX stream", proxyV2(1, 0x31, make([]byte, 216), nil), 232, netip.AddrPort{}, nil)
	f("v2 UDP", proxyV2(1, 0x12, v2Addrs(cli4, srv4), nil), 0, netip.AddrPort{}, errProxyFamily)
	f("v2 unassigned family", proxyV2(1, 0x41, v2Addrs(cli4, srv4), nil), 0, netip.AddrPort{}, errProxyFamily)
	f("v2 address block short of its family", proxyV2(1, 0x21, v2Addrs(cli4, srv4), nil), 0, netip.AddrPort{}, errProxyLength)
	f("v2 over the 536-byte cap", proxyV2(1, 0x11, v2Addrs(cli4, srv4), make([]byte, 600)), 0, netip.AddrPort{}, errProxyLength)
	f("v2 at the 536-byte cap", proxyV2(1, 0x11, v2Addrs(cli4, srv4), make([]byte, 536-28)), 536, cli4, nil)
	bad := bytes.Clone(v4)
	bad[12] = 0x11 // version 1 in a v2 header
	f("v2 version 1", bad, 0, netip.AddrPort{}, errProxyVersion)
	bad[12] = 0x22 // command 2
	f("v2 command 2", bad, 0, netip.AddrPort{}, errProxyVersion)
	bad = bytes.Clone(v4)
	bad[6] = 'X'
	f("v2 bad signature", bad, 0, netip.AddrPort{}, errProxySignature)
	f("HTTP without a header", nil, 0, netip.AddrPort{}, errProxySignature)

	line := func(s string) []byte { return []byte(s) }
	f("v1 TCP4", line("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080\r\n"), len("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080\r\n"), cli4, nil)
	f("v1 TCP6", line("PROXY TCP6 2001:db8::7 2001:db8::11 51000 8080\r\n"), len("PROXY TCP6 2001:db8::7 2001:db8::11 51000 8080\r\n"), cli6, nil)
	f("v1 TCP6 mapped", line("PROXY TCP6 ::ffff:203.0.113.7 ::1 51000 8080\r\n"), len("PROXY TCP6 ::ffff:203.0.113.7 ::1 51000 8080\r\n"), cli4, nil)
	f("v1 UNKNOWN", line("PROXY UNKNOWN\r\n"), len("PROXY UNKNOWN\r\n"), netip.AddrPort{}, nil)
	f("v1 UNKNOWN with addresses", line("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"), len("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"), netip.AddrPort{}, nil)
	f("v1 TCP4 with an IPv6 address", line("PROXY TCP4 2001:db8::7 10.0.0.11 51000 8080\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 port out of range", line("PROXY TCP4 203.0.113.7 10.0.0.11 65536 8080\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 leading zero", line("PROXY TCP4 203.0.113.07 10.0.0.11 51000 8080\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 missing field", line("PROXY TCP4 203.0.113.7 10.0.0.11 51000\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 extra field", line("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080 9\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 double space", line("PROXY TCP4  203.0.113.7 10.0.0.11 51000 8080\r\n"), 0, netip.AddrPort{}, errProxyV1)
	f("v1 UDP4", line("PROXY UDP4 203.0.113.7 10.0.0.11 51000 8080\r\n"), 0, netip.AddrPort{}, errProxyFamily)
	f("v1 lowercase", line("proxy TCP4 203.0.113.7 10.0.0.11 51000 8080\r\n"), 0, netip.AddrPort{}, errProxySignature)
	f("v1 over 107 bytes", line("PROXY UNKNOWN "+string(bytes.Repeat([]byte("x"), 100))+"\r\n"), 0, netip.AddrPort{}, errProxyLength)
}

// TestParseProxyHeaderSplit: a header cut anywhere is "incomplete", never
// an error and never a result, so the engine can wait for the rest of it
// across reads; whole, it parses.
func TestParseProxyHeaderSplit(t *testing.T) {
	for _, h := range [][]byte{
		proxyV2(1, 0x11, v2Addrs(cli4, srv4), []byte{0x04, 0x00, 0x01, 0x00}),
		proxyV2(1, 0x21, v2Addrs(cli6, srv6), nil),
		proxyV2(0, 0x00, nil, nil),
		[]byte("PROXY TCP6 2001:db8::7 2001:db8::11 51000 8080\r\n"),
	} {
		for k := 0; k < len(h); k++ {
			if n, _, err := parseProxyHeader(h[:k]); err != errProxyShort {
				t.Fatalf("header %q cut at %d: n=%d err=%v, want errProxyShort", h, k, n, err)
			}
		}
		if n, _, err := parseProxyHeader(h); err != nil || n != len(h) {
			t.Fatalf("header %q whole: n=%d err=%v", h, n, err)
		}
	}
}

// TestParseProxyHeaderAllocs: parsing allocates nothing, in either
// version, whatever the answer.
func TestParseProxyHeaderAllocs(t *testing.T) {
	ins := [][]byte{
		proxyV2(1, 0x21, v2Addrs(cli6, srv6), nil),
		[]byte("PROXY TCP6 2001:db8:1234:5678:9abc:def0:1234:5678 2001:db8::11 51000 8080\r\n"),
		[]byte("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080\r\n"),
		[]byte("GET / HTTP/1.1\r\n"),
	}
	for _, in := range ins {
		if a := testing.AllocsPerRun(100, func() { _, _, _ = parseProxyHeader(in) }); a != 0 {
			t.Fatalf("%q: %.1f allocations per parse, want 0", in, a)
		}
	}
}

// FuzzProxyHeader: on any input the parser stays within its bounds, a
// header it accepts parses the same alone and is "incomplete" at every
// shorter length (so split reads can never change the answer), and the
// v1 address readers agree with net/netip.
func FuzzProxyHeader(f *testing.F) {
	f.Add(proxyV2(1, 0x11, v2Addrs(cli4, srv4), nil))
	f.Add(proxyV2(1, 0x21, v2Addrs(cli6, srv6), []byte{0x04, 0x00, 0x00}))
	f.Add(proxyV2(0, 0x00, nil, nil))
	f.Add(proxyV2(1, 0x31, make([]byte, 216), nil))
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.11 51000 8080\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 ::ffff:1.2.3.4 1:2:3:4:5:6:7:8 1 65535\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("2001:db8::1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, src, err := parseProxyHeader(b)
		switch {
		case err == nil:
			if n <= 0 || n > len(b) || n > proxyMaxLen {
				t.Fatalf("n=%d for %d bytes", n, len(b))
			}
			if src.IsValid() && src.Addr().Is4In6() {
				t.Fatalf("source %v left mapped", src)
			}
			n2, src2, err2 := parseProxyHeader(b[:n])
			if err2 != nil || n2 != n || src2 != src {
				t.Fatalf("the header alone: n=%d src=%v err=%v; with what follows: n=%d src=%v", n2, src2, err2, n, src)
			}
			for k := 0; k < n; k++ {
				if _, _, err := parseProxyHeader(b[:k]); err != errProxyShort {
					t.Fatalf("cut at %d of %d: %v, want errProxyShort", k, n, err)
				}
			}
		case err == errProxyShort:
			if len(b) >= proxyMaxLen {
				t.Fatalf("%d bytes still incomplete: the header must be bounded", len(b))
			}
		}
		want, werr := netip.ParseAddr(string(b))
		if werr == nil && want.Zone() != "" {
			return
		}
		for _, p := range []func([]byte) (netip.Addr, bool){parseV4, parseV6} {
			got, ok := p(b)
			if ok && (werr != nil || got != want) {
				t.Fatalf("%q: got %v, net/netip says %v (%v)", b, got, want, werr)
			}
		}
		if werr == nil {
			if _, ok := map[bool]func([]byte) (netip.Addr, bool){true: parseV4, false: parseV6}[want.Is4()](b); !ok {
				t.Fatalf("%q: refused; net/netip reads %v", b, want)
			}
		}
	})
}
